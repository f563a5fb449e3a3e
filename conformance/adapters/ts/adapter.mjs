// Conformance adapter for the TypeScript SDK (@envd/sdk, Node entry).
//
// Run (from the repository root; the SDK must be built first):
//
//   npm run build -w @envd/sdk && ENVD_URL=http://127.0.0.1:PORT node conformance/adapters/ts/adapter.mjs
//
// Speaks conformance/PROTOCOL.md: one JSON request per line on stdin, one JSON
// response per line on stdout; logs go to stderr. Every op goes through the
// SDK's public API only; errors are reported from EnvdError's typed fields.
import { createInterface } from "node:readline";

const { Envd, EnvdError } = await import("@envd/sdk").catch((e) => {
  process.stderr.write(`adapter: cannot load @envd/sdk (${e.message}); build it first: npm run build -w @envd/sdk\n`);
  process.exit(1);
});

const DEFAULT_WAIT_MS = 60_000;
/** Terminal output a handle keeps for read_until/wait (PROTOCOL.md: at least 64 MiB). */
const TERMINAL_KEEP_BYTES = 64 * 1024 * 1024;

let envd = newClient({});
/** Live handles by id: {kind: "process"|"pty"|"watch", ...}. */
const handles = new Map();
let nextHandle = 1;

function newClient(args) {
  const url = args.url ?? process.env.ENVD_URL;
  if (!url) {
    throw new Error("ENVD_URL is not set");
  }
  return new Envd({
    url,
    accessToken: args.accessToken ?? undefined,
    user: args.user ?? undefined,
    keepaliveIntervalMs: args.keepaliveIntervalMs ?? undefined,
  });
}

class AdapterError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function handleOf(args, kind) {
  const h = handles.get(args.handle);
  if (h === undefined || (kind !== undefined && h.kind !== kind)) {
    throw new AdapterError("not_found", `no ${kind ?? ""} handle ${args.handle}`);
  }
  return h;
}

function addHandle(value) {
  const id = `h${nextHandle++}`;
  handles.set(id, value);
  return id;
}

function selector(args) {
  if (args.pid !== undefined) return { pid: Number(args.pid) };
  if (args.tag !== undefined) return { tag: String(args.tag) };
  throw new AdapterError("invalid_argument", "pid or tag required");
}

function processOptions(args) {
  return {
    args: args.args,
    envs: args.envs,
    cwd: args.cwd,
    user: args.user,
    tag: args.tag,
    timeoutMs: args.timeoutMs,
  };
}

function entry(e) {
  const out = {
    name: e.name,
    type: e.type,
    path: e.path,
    size: e.size,
    mode: e.mode,
    permissions: e.permissions,
    owner: e.owner,
    group: e.group,
    modifiedTime: e.modifiedTime?.toISOString(),
  };
  if (e.symlinkTarget !== undefined) out.symlinkTarget = e.symlinkTarget;
  if (e.metadata !== undefined && Object.keys(e.metadata).length > 0) out.metadata = e.metadata;
  return out;
}

function writeInfo(i) {
  const out = { name: i.name, path: i.path, type: i.type };
  if (Object.keys(i.metadata).length > 0) out.metadata = i.metadata;
  return out;
}

function exitResult(r) {
  const out = { exitCode: r.exitCode, exited: r.exited, status: r.status };
  if (r.error !== undefined) out.error = r.error;
  return out;
}

/** Resolves `promise`, or fails with deadline_exceeded after `ms`. */
async function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new AdapterError("deadline_exceeded", `${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until `check()` is true, re-checking after each output chunk. */
async function untilOutput(iterable, check, ms, what) {
  if (check()) return;
  const iterator = iterable[Symbol.asyncIterator]();
  const run = (async () => {
    for (;;) {
      const { done } = await iterator.next();
      if (check()) return;
      if (done) throw new AdapterError("deadline_exceeded", `${what}: the stream ended first`);
    }
  })();
  try {
    await within(ms, run, what);
  } finally {
    void iterator.return?.();
  }
}

function attachProcess(handle) {
  return { kind: "process", handle };
}

const ops = {
  "client.configure": async (args) => {
    envd = newClient(args);
    return {};
  },
  health: () => envd.health(),
  metrics: () => envd.metrics(),
  envs: () => envd.envs(),
  init: async (args) => {
    await envd.init({
      accessToken: args.accessToken,
      envVars: args.envVars,
      defaultUser: args.defaultUser,
      defaultWorkdir: args.defaultWorkdir,
      timestamp: args.timestamp,
    });
    return {};
  },
  "snapshot.prepare": async () => {
    await envd.prepareSnapshot();
    return {};
  },

  "commands.run": async (args) => {
    const r = await envd.commands.run(args.cmd, { ...processOptions(args), stdin: args.stdin });
    return { pid: r.pid, stdout: r.stdout, stderr: r.stderr, ...exitResult(r) };
  },
  "commands.spawn": async (args) => {
    const h = await envd.commands.spawn(args.cmd, { ...processOptions(args), stdin: args.stdin === true });
    return { handle: addHandle(attachProcess(h)), pid: h.pid };
  },
  "commands.connect": async (args) => {
    const h = await envd.commands.connect(selector(args), { user: args.user });
    return { handle: addHandle(attachProcess(h)), pid: h.pid };
  },
  "commands.list": async (args) => {
    const processes = await envd.commands.list({ user: args.user });
    return {
      processes: processes.map((p) => {
        const out = { pid: p.pid, cmd: p.cmd, args: p.args, envs: p.envs };
        if (p.tag !== undefined) out.tag = p.tag;
        if (p.cwd !== undefined) out.cwd = p.cwd;
        return out;
      }),
    };
  },
  "commands.send_stdin": async (args) => {
    await envd.commands.sendStdin(selector(args), args.data, { user: args.user });
    return {};
  },
  "commands.close_stdin": async (args) => {
    await envd.commands.closeStdin(selector(args), { user: args.user });
    return {};
  },
  "commands.signal": async (args) => {
    await envd.commands.signal(selector(args), args.signal, { user: args.user });
    return {};
  },
  "commands.kill": async (args) => ({ killed: await envd.commands.kill(selector(args), { user: args.user }) }),

  "handle.wait": async (args) => {
    const { handle } = handleOf(args, "process");
    const r = await within(args.timeoutMs ?? DEFAULT_WAIT_MS, handle.wait(), "wait");
    return { stdout: r.stdout, stderr: r.stderr, ...exitResult(r) };
  },
  "handle.read_until": async (args) => {
    const { handle } = handleOf(args, "process");
    await untilOutput(handle, () => handle.stdout.includes(args.contains), args.timeoutMs ?? DEFAULT_WAIT_MS, "read_until");
    return { stdout: handle.stdout, stderr: handle.stderr };
  },
  "handle.send_stdin": async (args) => {
    await handleOf(args, "process").handle.sendStdin(args.data);
    return {};
  },
  "handle.close_stdin": async (args) => {
    await handleOf(args, "process").handle.closeStdin();
    return {};
  },
  "handle.kill": async (args) => {
    await handleOf(args, "process").handle.kill();
    return {};
  },
  "handle.disconnect": async (args) => {
    handleOf(args).handle.disconnect();
    return {};
  },

  "pty.create": async (args) => {
    const h = await envd.pty.create({
      cols: args.cols,
      rows: args.rows,
      cmd: args.cmd,
      args: args.args,
      envs: args.envs,
      cwd: args.cwd,
      user: args.user,
    });
    return { handle: addHandle({ kind: "pty", handle: h }), pid: h.pid };
  },
  "pty.write": async (args) => {
    await handleOf(args, "pty").handle.write(args.data);
    return {};
  },
  "pty.resize": async (args) => {
    await handleOf(args, "pty").handle.resize({ cols: args.cols, rows: args.rows });
    return {};
  },
  "pty.read_until": async (args) => {
    const { handle } = handleOf(args, "pty");
    const text = () => new TextDecoder().decode(handle.received);
    await untilOutput(handle, () => text().includes(args.contains), args.timeoutMs ?? DEFAULT_WAIT_MS, "read_until");
    return { output: text() };
  },
  "pty.kill": async (args) => {
    await handleOf(args, "pty").handle.kill();
    return {};
  },
  "pty.wait": async (args) => {
    const { handle } = handleOf(args, "pty");
    const r = await within(args.timeoutMs ?? DEFAULT_WAIT_MS, handle.wait(), "wait");
    return { output: new TextDecoder().decode(r.output), ...exitResult(r) };
  },

  "terminal.create": async (args) => {
    const session = await envd.terminals.create({
      cols: args.cols,
      rows: args.rows,
      cmd: args.cmd,
      args: args.args,
      envs: args.envs,
      cwd: args.cwd,
      user: args.user,
      tag: args.tag,
      keepOutputBytes: TERMINAL_KEEP_BYTES,
    });
    return { handle: addHandle({ kind: "terminal", handle: session }), pid: session.pid };
  },
  "terminal.attach": async (args) => {
    const target = args.pid !== undefined ? { pid: Number(args.pid) } : { tag: String(args.tag) };
    const session = await envd.terminals.attach({ ...target, offset: args.offset, keepOutputBytes: TERMINAL_KEEP_BYTES });
    return { handle: addHandle({ kind: "terminal", handle: session }), pid: session.pid, pty: session.pty };
  },
  "terminal.write": async (args) => {
    await handleOf(args, "terminal").handle.write(args.data);
    return {};
  },
  "terminal.resize": async (args) => {
    await handleOf(args, "terminal").handle.resize({ cols: args.cols, rows: args.rows });
    return {};
  },
  "terminal.signal": async (args) => {
    await handleOf(args, "terminal").handle.signal(args.signal);
    return {};
  },
  "terminal.read_until": async (args) => {
    const { handle } = handleOf(args, "terminal");
    const text = () => new TextDecoder().decode(handle.output);
    await untilOutput(handle, () => text().includes(args.contains), args.timeoutMs ?? DEFAULT_WAIT_MS, "read_until");
    return { output: text() };
  },
  "terminal.drop_stream": async (args) => {
    handleOf(args, "terminal").handle.dropStream();
    return {};
  },
  "terminal.wait": async (args) => {
    const { handle } = handleOf(args, "terminal");
    const r = await within(args.timeoutMs ?? DEFAULT_WAIT_MS, handle.wait(), "wait");
    return { ...exitResult(r), output: new TextDecoder().decode(r.output) };
  },
  "terminal.close": async (args) => {
    await handleOf(args, "terminal").handle.close({ graceMs: args.graceMs });
    return {};
  },
  "terminal.list": async () => {
    const terminals = await envd.terminals.list();
    return {
      terminals: terminals
        .map((t) => {
          const out = { pid: t.pid, cols: t.size?.cols ?? 0, rows: t.size?.rows ?? 0 };
          if (t.tag !== undefined) out.tag = t.tag;
          return out;
        })
        .sort((a, b) => a.pid - b.pid),
    };
  },
  "terminal.send_raw": async (args) => {
    const ops = (args.ops ?? []).map((op) => {
      if (op.input !== undefined) return { kind: "input", data: new TextEncoder().encode(op.input) };
      if (op.resize !== undefined) return { kind: "resize", cols: op.resize.cols, rows: op.resize.rows };
      if (op.signal !== undefined) return { kind: "signal", signal: op.signal };
      throw new AdapterError("invalid_argument", `bad op ${JSON.stringify(op)}`);
    });
    const lastAppliedSeq = await envd.terminals.send({ pid: Number(args.pid) }, Number(args.seq), ops, { timeoutMs: args.timeoutMs });
    return { lastAppliedSeq };
  },
  "terminal.attach_raw": async (args) => {
    const out = { pty: false, lastAppliedSeq: 0, events: [] };
    const controller = new AbortController();
    const read = (async () => {
      for await (const event of envd.terminals.events({ pid: Number(args.pid) }, {
        offset: args.offset,
        stderrOffset: args.stderrOffset,
        signal: controller.signal,
      })) {
        if (event.type === "started") {
          out.pty = event.pty;
          out.lastAppliedSeq = event.lastAppliedSeq;
        } else if (event.type === "output") {
          const last = out.events.at(-1);
          if (last?.output?.stream === event.stream) {
            last.output.bytes.push(event.data);
          } else {
            out.events.push({ output: { stream: event.stream, offset: event.offset, bytes: [event.data] } });
          }
        } else if (event.type === "lost") {
          out.events.push({ lost: { stream: event.stream, lostBytes: event.lostBytes, resumeOffset: event.resumeOffset } });
        } else if (event.type === "exit") {
          out.events.push({ exit: { exitCode: event.exitCode, exited: event.exited } });
        }
      }
    })();
    try {
      await within(args.timeoutMs ?? 10_000, read, "attach_raw");
    } finally {
      controller.abort();
    }
    for (const e of out.events) {
      if (e.output !== undefined) {
        const { stream, offset, bytes } = e.output;
        e.output = { stream, offset, text: new TextDecoder().decode(Buffer.concat(bytes)) };
      }
    }
    return out;
  },

  "files.read": async (args) => {
    const format = args.format ?? "text";
    const options = { user: args.user };
    if (format === "text") return { text: await envd.files.read(args.path, options) };
    if (format === "bytes") {
      const bytes = await envd.files.read(args.path, { ...options, format: "bytes" });
      return { base64: Buffer.from(bytes).toString("base64") };
    }
    const stream = await envd.files.read(args.path, { ...options, format: "stream" });
    const parts = [];
    for await (const chunk of stream) parts.push(Buffer.from(chunk));
    return { base64: Buffer.concat(parts).toString("base64") };
  },
  "files.write": async (args) => {
    const bytes = args.base64 !== undefined ? new Uint8Array(Buffer.from(args.base64, "base64")) : new TextEncoder().encode(args.text ?? "");
    let data = bytes;
    if (args.format === "stream") {
      const CHUNK = 64 * 1024;
      let at = 0;
      data = new ReadableStream({
        pull(controller) {
          if (at >= bytes.length) {
            controller.close();
            return;
          }
          controller.enqueue(bytes.slice(at, at + CHUNK));
          at += CHUNK;
        },
      });
    }
    const info = await envd.files.write(args.path, data, { user: args.user, metadata: args.metadata });
    return { entries: [writeInfo(info)] };
  },
  "files.write_many": async (args) => {
    const infos = await envd.files.writeMany(
      args.files.map((f) => ({ path: f.path, data: f.text })),
      { user: args.user, metadata: args.metadata },
    );
    return { entries: infos.map(writeInfo) };
  },
  "files.list": async (args) => ({
    entries: (await envd.files.list(args.path, { depth: args.depth, user: args.user })).map(entry),
  }),
  "files.stat": async (args) => entry(await envd.files.stat(args.path, { user: args.user })),
  "files.exists": async (args) => ({ exists: await envd.files.exists(args.path, { user: args.user }) }),
  "files.make_dir": async (args) => entry(await envd.files.makeDir(args.path, { user: args.user })),
  "files.rename": async (args) => entry(await envd.files.rename(args.from, args.to, { user: args.user })),
  "files.compose": async (args) => writeInfo(await envd.files.compose(args.sources, args.destination, { user: args.user })),
  "files.remove": async (args) => {
    await envd.files.remove(args.path, { user: args.user });
    return {};
  },
  "files.watch": async (args) => {
    const watch = await envd.files.watch(args.path, { recursive: args.recursive, user: args.user });
    const state = { kind: "watch", handle: watch, events: [], error: undefined, wake: () => {} };
    void (async () => {
      try {
        for await (const event of watch) {
          state.events.push({ name: event.name, type: event.type });
          state.wake();
        }
      } catch (e) {
        state.error = e;
        state.wake();
      }
    })();
    return { handle: addHandle(state) };
  },
  "watch.events": async (args) => {
    const state = handleOf(args, "watch");
    const count = args.count ?? 0;
    const ready = new Promise((resolve, reject) => {
      const check = () => {
        if (state.events.length >= count) resolve();
        else if (state.error !== undefined) reject(state.error);
        else state.wake = check;
      };
      check();
    });
    await within(args.timeoutMs ?? DEFAULT_WAIT_MS, ready, `waiting for ${count} events`).catch((e) => {
      state.wake = () => {};
      throw e;
    });
    return { events: [...state.events] };
  },
  "watch.stop": async (args) => {
    handleOf(args, "watch").handle.stop();
    return {};
  },
  "files.download_url": async (args) => ({
    url: await envd.files.downloadUrl(args.path, { user: args.user, expiresInSeconds: args.expiresInSeconds }),
  }),
  "files.upload_url": async (args) => ({
    url: await envd.files.uploadUrl(args.path, { user: args.user, expiresInSeconds: args.expiresInSeconds }),
  }),
};

function errorOf(e) {
  if (e instanceof EnvdError) {
    const out = { code: e.codeName, message: e.message };
    if (e.httpStatus !== undefined) out.httpStatus = e.httpStatus;
    if (e.reasonName !== undefined) out.reason = e.reasonName;
    return out;
  }
  if (e instanceof AdapterError) {
    return { code: e.code, message: e.message };
  }
  return { code: "unknown", message: e instanceof Error ? `adapter: ${e.stack ?? e.message}` : String(e) };
}

async function handle(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    return { id: null, error: { code: "invalid_argument", message: `not JSON: ${line}` } };
  }
  const op = ops[request.op];
  if (op === undefined) {
    return { id: request.id, error: { code: "unimplemented", message: `unknown op ${request.op}` } };
  }
  try {
    const ok = await op(request.args ?? {});
    return { id: request.id, ok: ok ?? {} };
  } catch (e) {
    return { id: request.id, error: errorOf(e) };
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
let queue = Promise.resolve();
lines.on("line", (line) => {
  if (line.trim().length === 0) return;
  queue = queue.then(async () => {
    const response = await handle(line);
    process.stdout.write(`${JSON.stringify(response)}\n`);
  });
});
lines.on("close", () => {
  void queue.then(() => {
    for (const h of handles.values()) {
      if (h.kind === "watch") h.handle.stop();
      else if (h.kind === "terminal") h.handle.detach();
      else h.handle.disconnect();
    }
    process.exit(0);
  });
});
