// The page: runs in chromium, served from another origin than envd. It uses only @envd/sdk
// (bundled from the package's browser entry). run.mjs calls the scenarios below through
// page.evaluate(window.__envdTest.scenarios[name](cfg)); each resolves with { note?, ... } or
// throws. Every path a scenario touches is under cfg.scratch (a mkdtemp dir made by run.mjs).
import { Envd, EnvdError } from '@envd/sdk';

type Cfg = {
  envdUrl: string;
  scratch: string;
  pageOrigin: string;
  [k: string]: unknown;
};

// Node-side helpers exposed by run.mjs (page.exposeFunction); paths are relative to scratch.
declare global {
  interface Window {
    __nodeWriteFiles(files: { path: string; text?: string }[]): Promise<boolean>;
    __nodeMkdir(path: string): Promise<boolean>;
    __envdTest: { ready: boolean; scenarios: Record<string, (cfg: Cfg) => Promise<unknown>> };
  }
}

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

function eq<T>(actual: T, expected: T, what: string): void {
  if (actual !== expected) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, j) => {
        t = setTimeout(() => j(new Error(`${what}: nothing within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

function describe(e: unknown): string {
  if (e instanceof EnvdError) return `EnvdError(${e.codeName}${e.httpStatus ? `, HTTP ${e.httpStatus}` : ''}): ${e.message}`;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

async function sha256Hex(data: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function sameBytes(a: Uint8Array, b: Uint8Array, what: string): void {
  eq(b.length, a.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) throw new Error(`${what}: first difference at byte ${i} (${a[i]} vs ${b[i]})`);
  }
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<{ bytes: Uint8Array; chunks: number }> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { bytes, chunks: parts.length };
}

function client(cfg: Cfg, extra: Partial<ConstructorParameters<typeof Envd>[0]> = {}): Envd {
  // A short keepalive: streams then also prove that keepalives get through the browser's fetch
  // (the SDK fails a stream that is silent for 3x the interval).
  return new Envd({ url: cfg.envdUrl, keepaliveIntervalMs: 1000, ...extra });
}

/** Collects a PTY's output through its async iterator; `until` waits for a regex. */
class PtyReader {
  text = '';
  #wake: (() => void)[] = [];
  done = false;
  failure: unknown;

  constructor(output: AsyncIterable<Uint8Array>) {
    void (async () => {
      const dec = new TextDecoder();
      try {
        for await (const chunk of output) {
          this.text += dec.decode(chunk, { stream: true });
          this.#notify();
        }
      } catch (e) {
        this.failure = e;
      } finally {
        this.done = true;
        this.#notify();
      }
    })();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = [];
    w.forEach((f) => f());
  }

  async until(re: RegExp, ms = 10_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.text);
      if (m) return m;
      if (this.done) throw new Error(`pty output ended (${this.failure ? describe(this.failure) : 'no error'}) before ${re}; output: ${JSON.stringify(this.text.slice(-500))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${re} not seen in pty output within ${ms} ms; output: ${JSON.stringify(this.text.slice(-500))}`);
      await Promise.race([new Promise<void>((r) => this.#wake.push(r)), sleep(Math.min(left, 200))]);
    }
  }
}

/** A terminal session's output bytes, for {@link PtyReader}. */
async function* outputOf(session: AsyncIterable<{ type: string; data?: Uint8Array }>): AsyncGenerator<Uint8Array> {
  for await (const event of session) {
    if (event.type === 'lost') throw new Error('terminal output was lost');
    if (event.data !== undefined) yield event.data;
  }
}

const scenarios: Record<string, (cfg: Cfg) => Promise<unknown>> = {
  // Plain fetch across origins, with a header that forces a CORS preflight; then the SDK's
  // health(), which reads the JSON body (so CORS must allow reading it).
  async cors(cfg) {
    assert(location.origin !== new URL(cfg.envdUrl).origin, 'page and envd share an origin');
    const r = await fetch(`${cfg.envdUrl}/health`, { headers: { 'X-Access-Token': 'x' } });
    assert(r.ok, `GET /health with a preflight: HTTP ${r.status}`);
    const { version } = await client(cfg).health();
    assert(typeof version === 'string' && version.length > 0, `health(): version ${JSON.stringify(version)}`);
    return { note: `page ${location.origin} -> envd ${cfg.envdUrl}, envd ${version}` };
  },

  // (1) A command whose output arrives in several chunks over time, consumed through the
  // handle's async iterator while it runs.
  async 'commands-stream'(cfg) {
    const envd = client(cfg);
    const t0 = performance.now();
    const h = await envd.commands.spawn('/bin/sh', { args: ['-c', 'for i in 1 2 3; do echo $i; sleep 0.2; done'] });
    assert(Number.isInteger(h.pid) && h.pid > 0, `pid ${h.pid}`);
    const chunks: { ms: number; text: string; stream: string }[] = [];
    const dec = new TextDecoder();
    for await (const c of h.output()) {
      chunks.push({ ms: Math.round(performance.now() - t0), text: dec.decode(c.data), stream: c.stream });
    }
    const result = await h.wait();
    eq(result.exitCode, 0, 'exit code');
    eq(result.exited, true, 'exited');
    eq(chunks.map((c) => c.text).join(''), '1\n2\n3\n', 'streamed stdout');
    eq(result.stdout, '1\n2\n3\n', 'wait().stdout');
    assert(chunks.every((c) => c.stream === 'stdout'), `streams: ${chunks.map((c) => c.stream)}`);
    assert(chunks.length >= 3, `expected >= 3 chunks (one per line), got ${chunks.length}: ${JSON.stringify(chunks)}`);
    // Streamed, not buffered until the end: "1" arrives well before "3".
    const at = (s: string) => chunks.find((c) => c.text.includes(s))!.ms;
    assert(at('3') - at('1') >= 250, `chunks not spread over time (buffered?): ${JSON.stringify(chunks)}`);
    return { note: `chunks at ${chunks.map((c) => `${c.ms}ms:${JSON.stringify(c.text)}`).join(' ')}` };
  },

  // run(): exit code, stdout/stderr split, stdin sent from the browser, typed errors.
  async 'commands-run'(cfg) {
    const envd = client(cfg);
    const r = await envd.commands.run('/bin/sh', { args: ['-c', 'echo out; echo err >&2; exit 3'] });
    eq(r.exitCode, 3, 'exit code');
    eq(r.stdout, 'out\n', 'stdout');
    eq(r.stderr, 'err\n', 'stderr');
    const cat = await envd.commands.run('/bin/cat', { stdin: 'héllo from the browser ✓\n' });
    eq(cat.stdout, 'héllo from the browser ✓\n', 'stdin round trip');
    const pwd = await envd.commands.run('/bin/pwd', { cwd: cfg.scratch });
    eq(pwd.stdout, `${cfg.scratch}\n`, 'cwd');
    let err: unknown;
    try {
      await envd.commands.run('/bin/true', { cwd: `${cfg.scratch}/no-such-dir` });
    } catch (e) {
      err = e;
    }
    assert(err instanceof EnvdError, `bad cwd: expected an EnvdError, got ${describe(err)}`);
    return { note: `bad cwd -> ${describe(err)}` };
  },

  // Binary stdout survives; a tagged process with stdin open can be dropped and re-attached
  // (Connect RPC), fed stdin from the page, and ended by closing stdin.
  async 'commands-connect'(cfg) {
    const envd = client(cfg);
    const bin = await envd.commands.spawn('/bin/sh', { args: ['-c', "printf '\\000\\001\\377\\376'"] });
    const parts: Uint8Array[] = [];
    for await (const c of bin.output()) parts.push(c.data);
    eq((await bin.wait()).exitCode, 0, 'printf exit code');
    eq([...parts.flatMap((p) => [...p])].join(','), '0,1,255,254', 'binary stdout bytes');

    const tag = `browser-cat-${Math.random().toString(36).slice(2)}`;
    const h = await envd.commands.spawn('/bin/cat', { stdin: true, tag });
    try {
      await h.sendStdin('one\n');
      await withTimeout(
        (async () => {
          while (!h.stdout.includes('one\n')) await sleep(20);
        })(),
        5000,
        'echo of "one" from cat',
      );
      h.disconnect();
      const listed = await envd.commands.list();
      const mine = listed.find((p) => p.pid === h.pid);
      assert(mine, `pid ${h.pid} not in list() after disconnect`);
      eq(mine.tag, tag, 'listed tag');
      const h2 = await envd.commands.connect({ tag });
      eq(h2.pid, h.pid, 'connect({tag}).pid');
      await h2.sendStdin('two\n');
      await h2.closeStdin();
      const end = await withTimeout(h2.wait(), 10_000, 'cat to exit after closeStdin');
      eq(end.exitCode, 0, 'cat exit code');
      eq(end.stdout, 'two\n', 'output after re-attach (no replay of "one")');
    } catch (e) {
      await envd.commands.kill(h.pid).catch(() => {});
      throw e;
    }
    return { note: `pid ${h.pid} tag ${tag}: disconnect, connect, stdin, EOF` };
  },

  // Throughput: 8 MB of stdout through connect-web's streaming response, nothing lost.
  async 'commands-large-output'(cfg) {
    const envd = client(cfg);
    const t0 = performance.now();
    const h = await envd.commands.spawn('/bin/sh', { args: ['-c', 'yes 0123456789abcdef | head -c 8000000'] });
    let bytes = 0;
    let chunks = 0;
    let bad = -1;
    for await (const c of h.output()) {
      for (let i = 0; i < c.data.length && bad < 0; i++) {
        // every byte is at a fixed offset of the repeating 17-byte line
        const want = (bytes + i) % 17 === 16 ? 10 : '0123456789abcdef'.charCodeAt((bytes + i) % 17);
        if (c.data[i] !== want) bad = bytes + i;
      }
      bytes += c.data.length;
      chunks++;
    }
    const r = await h.wait();
    eq(r.exitCode, 0, 'exit code');
    eq(bad, -1, 'first corrupted byte offset');
    eq(bytes, 8_000_000, 'stdout bytes');
    const ms = Math.round(performance.now() - t0);
    return { note: `8 MB in ${chunks} chunks, ${ms} ms` };
  },

  // A process silent for longer than 3x the keepalive interval: keepalives must reach the page.
  async 'commands-keepalive'(cfg) {
    const envd = client(cfg, { keepaliveIntervalMs: 1000 });
    const t0 = performance.now();
    const r = await envd.commands.run('/bin/sh', { args: ['-c', 'sleep 4; echo done'] });
    eq(r.exitCode, 0, 'exit code');
    eq(r.stdout, 'done\n', 'stdout');
    return { note: `silent 4 s with a 1 s keepalive, finished after ${Math.round(performance.now() - t0)} ms` };
  },

  // (2) A PTY: size at creation, echo, resize, kill.
  async pty(cfg) {
    const envd = client(cfg);
    const pty = await envd.pty.create({ cols: 80, rows: 24, cwd: cfg.scratch });
    const out = new PtyReader(pty.output());
    try {
      // `$(stty size)` / `hel""lo` differ from what the terminal echoes back, so each regex
      // matches only the command's real output.
      await pty.write('stty size | sed "s/^/SIZE1=/"\n');
      const s1 = await out.until(/SIZE1=(\d+) (\d+)/);
      eq(`${s1[1]}x${s1[2]}`, '24x80', 'initial rows x cols');
      await pty.write('echo hel""lo-pty\n');
      await out.until(/hello-pty/);
      await pty.resize({ cols: 120, rows: 40 });
      await pty.write('stty size | sed "s/^/SIZE2=/"\n');
      const s2 = await out.until(/SIZE2=(\d+) (\d+)/);
      eq(`${s2[1]}x${s2[2]}`, '40x120', 'rows x cols after resize');
      // Binary-ish input: a control character (Ctrl-C) reaches the shell.
      await pty.write('sleep 30; echo NOT-""INTERRUPTED\n');
      await sleep(300);
      await pty.write('\u0003');
      await pty.write('echo after-ctrl""-c\n');
      await out.until(/after-ctrl-c/);
      assert(!out.text.includes('NOT-INTERRUPTED'), 'Ctrl-C did not interrupt sleep');
    } catch (e) {
      await pty.kill().catch(() => {});
      throw e;
    }
    await pty.kill();
    const end = await withTimeout(pty.wait(), 10_000, 'pty.wait() after kill');
    assert(end.exitCode !== 0 || !end.exited, `killed pty ended like a clean exit: ${JSON.stringify(end)}`);
    await withTimeout(
      (async () => {
        while (!out.done) await sleep(20);
      })(),
      5000,
      'pty output iterator to finish after kill',
    );
    assert(out.failure === undefined, `pty output iterator failed after kill: ${describe(out.failure)}`);
    const live = await envd.commands.list();
    assert(!live.some((p) => p.pid === pty.pid), `pty pid ${pty.pid} still listed after kill`);
    return { note: `pid ${pty.pid}, end: exitCode=${end.exitCode} exited=${end.exited} status=${JSON.stringify(end.status)}` };
  },

  // (3) Files: 1 MiB of random bytes up and back down, byte for byte; stream read; stream
  // upload; a Node-written binary file; multipart writeMany; list/stat. run.mjs then checks
  // the uploaded file on disk.
  async files(cfg) {
    const envd = client(cfg);
    const path = `${cfg.scratch}/upload/random.bin`; // parent dir created by the upload
    const data = randomBytes(1 << 20);
    const sum = await sha256Hex(data);
    const info = await envd.files.write(path, data);
    eq(info.path, path, 'write().path');
    eq(info.name, 'random.bin', 'write().name');
    const back = await envd.files.read(path, { format: 'bytes' });
    assert(back instanceof Uint8Array, `read bytes: got ${Object.prototype.toString.call(back)}`);
    sameBytes(data, back, 'read(bytes) after write');
    const streamed = await readAll(await envd.files.read(path, { format: 'stream' }));
    sameBytes(data, streamed.bytes, 'read(stream) after write');

    // Upload from a ReadableStream (the browser SDK buffers it into a Blob).
    const small = randomBytes(200_000);
    const rs = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < small.length; i += 30_000) c.enqueue(small.slice(i, i + 30_000));
        c.close();
      },
    });
    await envd.files.write(`${cfg.scratch}/upload/stream.bin`, rs);
    sameBytes(small, await envd.files.read(`${cfg.scratch}/upload/stream.bin`, { format: 'bytes' }), 'stream upload');

    // Text, UTF-8.
    const text = 'héllo ✓ from the browser\n';
    await envd.files.write(`${cfg.scratch}/upload/text.txt`, text);
    eq(await envd.files.read(`${cfg.scratch}/upload/text.txt`), text, 'text round trip');

    // A binary file written by Node.
    const nodeBytes = await envd.files.read(`${cfg.scratch}/${cfg.nodeFile}`, { format: 'bytes' });
    eq(nodeBytes.length, cfg.nodeFileSize, 'Node-written file: size');
    eq(await sha256Hex(nodeBytes), cfg.nodeFileSha256, 'Node-written file: sha256');

    // Multipart upload of several files in one request.
    const many = await envd.files.writeMany([
      { path: `${cfg.scratch}/many/a.txt`, data: 'A' },
      { path: `${cfg.scratch}/many/b.bin`, data: new Uint8Array([0, 255, 1, 254]) },
    ]);
    eq(many.map((m) => m.path).join(','), `${cfg.scratch}/many/a.txt,${cfg.scratch}/many/b.bin`, 'writeMany paths');
    eq(await envd.files.read(`${cfg.scratch}/many/a.txt`), 'A', 'writeMany a.txt');
    sameBytes(new Uint8Array([0, 255, 1, 254]), await envd.files.read(`${cfg.scratch}/many/b.bin`, { format: 'bytes' }), 'writeMany b.bin');

    // Listing and stat.
    const entries = await envd.files.list(`${cfg.scratch}/upload`);
    const names = entries.map((e) => e.name).sort().join(',');
    eq(names, 'random.bin,stream.bin,text.txt', 'list names');
    const st = await envd.files.stat(path);
    eq(st.type, 'file', 'stat type');
    eq(st.size, data.length, 'stat size');

    // A missing file is a typed not_found.
    let err: unknown;
    try {
      await envd.files.read(`${cfg.scratch}/missing.bin`, { format: 'bytes' });
    } catch (e) {
      err = e;
    }
    assert(err instanceof EnvdError && err.codeName === 'not_found', `read missing: expected not_found, got ${describe(err)}`);

    return {
      path: 'upload/random.bin',
      size: data.length,
      sha256: sum,
      note: `1 MiB up/down byte-for-byte, read(stream) in ${streamed.chunks} chunks`,
    };
  },

  // (4) Watch a directory; Node creates files in it.
  async watch(cfg) {
    const envd = client(cfg);
    const dir = `${cfg.scratch}/watched`;
    await envd.files.makeDir(dir);
    const w = await envd.files.watch(dir);
    const events: { name: string; type: string }[] = [];
    let failure: unknown;
    let ended = false;
    const pump = (async () => {
      try {
        for await (const ev of w) events.push(ev);
      } catch (e) {
        failure = e;
      } finally {
        ended = true;
      }
    })();
    try {
      await window.__nodeWriteFiles([
        { path: 'watched/a.txt', text: 'a' },
        { path: 'watched/b.txt', text: 'bb' },
      ]);
      const want = ['a.txt', 'b.txt'];
      await withTimeout(
        (async () => {
          while (!want.every((n) => events.some((e) => e.name === n && e.type === 'create'))) {
            if (ended) throw new Error(`watch ended early: ${failure ? describe(failure) : 'no error'}`);
            await sleep(25);
          }
        })(),
        10_000,
        `create events for ${want} (got ${JSON.stringify(events)})`,
      );
    } finally {
      w.stop();
    }
    await withTimeout(pump, 5000, 'watch iterator to end after stop()');
    assert(failure === undefined, `watch iterator failed: ${describe(failure)}`);
    return { note: `events: ${events.map((e) => `${e.type}:${e.name}`).join(' ')}` };
  },

  // Recursive watch: a subdirectory created (by Node) after the watch started is watched too.
  async 'watch-recursive'(cfg) {
    const envd = client(cfg);
    const dir = `${cfg.scratch}/watched-rec`;
    await envd.files.makeDir(dir);
    const w = await envd.files.watch(dir, { recursive: true });
    const events: { name: string; type: string }[] = [];
    let failure: unknown;
    let ended = false;
    void (async () => {
      try {
        for await (const ev of w) events.push(ev);
      } catch (e) {
        failure = e;
      } finally {
        ended = true;
      }
    })();
    const waitFor = (pred: () => boolean, what: string) =>
      withTimeout(
        (async () => {
          while (!pred()) {
            if (ended) throw new Error(`watch ended early: ${failure ? describe(failure) : 'no error'}`);
            await sleep(25);
          }
        })(),
        10_000,
        `${what} (events so far ${JSON.stringify(events)})`,
      );
    try {
      await window.__nodeMkdir('watched-rec/sub');
      await waitFor(() => events.some((e) => e.name === 'sub' && e.type === 'create'), 'create event for sub');
      await sleep(200); // let envd add the new subdirectory to the watch
      await window.__nodeWriteFiles([{ path: 'watched-rec/sub/c.txt', text: 'c' }]);
      await waitFor(() => events.some((e) => e.name === 'sub/c.txt' && e.type === 'create'), 'create event for sub/c.txt');
    } finally {
      w.stop();
    }
    return { note: `events: ${events.map((e) => `${e.type}:${e.name}`).join(' ')}` };
  },

  // Last (it changes envd's state): set an access token from the browser, then see that
  // requests without it are refused with a readable typed error (CORS on error responses) and
  // that a signed download URL works with a plain fetch.
  // envd.pty.v1 terminal sessions. `terminal` creates a shell, types, resizes and keeps the
  // pid and the session's offset in sessionStorage; run.mjs then reloads the page, and
  // `terminal-reattach` attaches from that offset: no byte seen before is replayed, input
  // continues after the last batch envd applied.
  async terminal(cfg) {
    const envd = client(cfg);
    const session = await envd.terminals.create({ cols: 80, rows: 24, cmd: '/bin/sh', cwd: cfg.scratch, tag: 'browser-term' });
    const reader = new PtyReader(outputOf(session));
    await session.write('stty size\n');
    await reader.until(/24 80/);
    await session.resize({ cols: 120, rows: 40 });
    await session.write('stty size; echo marker-$((6*7))\n');
    await reader.until(/40 120[\s\S]*marker-42/);
    const listed = (await envd.terminals.list()).find((t) => t.pid === session.pid);
    eq(listed?.size?.cols, 120, 'listed cols');
    await sleep(200); // let the prompt after the marker arrive too
    sessionStorage.setItem('envd-terminal', JSON.stringify({ pid: session.pid, offset: session.offset, seen: reader.text }));
    session.detach();
    return { note: `pid ${session.pid}, offset ${session.offset} kept for the reload` };
  },
  async 'terminal-reattach'(cfg) {
    const kept = sessionStorage.getItem('envd-terminal');
    assert(kept !== null, 'no terminal kept in sessionStorage: the page was not reloaded after `terminal`');
    const { pid, offset, seen } = JSON.parse(kept) as { pid: number; offset: number; seen: string };
    assert(performance.getEntriesByType('navigation').some((e) => (e as PerformanceNavigationTiming).type === 'reload'), 'page was reloaded');
    const envd = client(cfg);
    const session = await envd.terminals.attach({ pid, offset });
    eq(session.offset, offset, 'session offset after attach');
    const reader = new PtyReader(outputOf(session));
    await session.write('echo after-$((7*6))-reload; exit 5\n');
    await reader.until(/after-42-reload/);
    const result = await withTimeout(session.wait(), 10_000, 'terminal exit');
    eq(result.exitCode, 5, 'exit code');
    assert(!reader.text.includes('marker-42'), `bytes before the kept offset were replayed: ${JSON.stringify(reader.text.slice(0, 200))}`);
    sessionStorage.removeItem('envd-terminal');
    return { note: `reattached at offset ${offset} after ${seen.length} chars; no replay of earlier output` };
  },
  async auth(cfg) {
    const admin = client(cfg);
    const token = `browser-${Math.random().toString(36).slice(2)}`;
    await admin.files.write(`${cfg.scratch}/secret.txt`, 'top secret');
    await admin.init({ accessToken: token });
    eq(admin.accessToken, token, 'client token after init');
    eq(await admin.files.read(`${cfg.scratch}/secret.txt`), 'top secret', 'read with the token');
    const anon = client(cfg);
    let httpErr: unknown;
    try {
      await anon.files.read(`${cfg.scratch}/secret.txt`);
    } catch (e) {
      httpErr = e;
    }
    assert(httpErr instanceof EnvdError && httpErr.codeName === 'unauthenticated', `files.read without token: ${describe(httpErr)}`);
    let rpcErr: unknown;
    try {
      await anon.commands.run('/bin/true');
    } catch (e) {
      rpcErr = e;
    }
    assert(rpcErr instanceof EnvdError && rpcErr.codeName === 'unauthenticated', `commands.run without token: ${describe(rpcErr)}`);
    const r = await admin.commands.run('/bin/echo', { args: ['ok'] });
    eq(r.stdout, 'ok\n', 'run with the token');
    const url = await admin.files.downloadUrl(`${cfg.scratch}/secret.txt`, { expiresInSeconds: 60 });
    const res = await fetch(url);
    eq(res.status, 200, `GET signed url ${url}`);
    eq(await res.text(), 'top secret', 'signed url body');
    return { note: `without token: files.read -> ${describe(httpErr)}; run -> ${describe(rpcErr)}` };
  },
};

window.__envdTest = { ready: true, scenarios };
