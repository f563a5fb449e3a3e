// The runner's own `host.*` ops (conformance/PROTOCOL.md, "Runner (host.*) ops").
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { execFileSync } from 'node:child_process';
import { dirname, isAbsolute } from 'node:path';

export class HostError extends Error {}

const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

/** passwd entry `{name, uid, gid, home}` of `name`, or null. */
export function passwdEntry(name) {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
  }
  return null;
}

function nameOf(file, id) {
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && Number(f[2]) === id) return f[0];
    }
  } catch { /* fall through */ }
  return String(id);
}

/** Creates the test user `envd-conf` (home /home/envd-conf) when absent. */
export function ensureUser(name = 'envd-conf') {
  let e = passwdEntry(name);
  if (!e) {
    execFileSync('useradd', ['-m', '-s', '/bin/bash', name], { stdio: 'pipe' });
    e = passwdEntry(name);
  }
  if (!e) throw new Error(`could not create user ${name}`);
  if (!existsSync(e.home)) {
    mkdirSync(e.home, { recursive: true, mode: 0o755 });
    chownSync(e.home, e.uid, e.gid);
  }
  return e;
}

/** Paths host ops may create: the case's scratch dir or (user cases) the user's home. */
function writable(path, ctx) {
  if (typeof path !== 'string' || !isAbsolute(path)) return false;
  const roots = [ctx.vars.scratch];
  if (ctx.vars.userHome) roots.push(ctx.vars.userHome);
  return roots.some((r) => r && path.startsWith(`${r}/`));
}

function requireWritable(op, path, ctx) {
  if (!writable(path, ctx)) throw new HostError(`${op}: refusing to touch ${JSON.stringify(path)} (not under scratch)`);
}

/** A TCP proxy to envd that can be frozen (forwards nothing, keeps sockets open). */
export class StallProxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.frozen = false;
    this.sockets = new Set();
    this.server = createServer((client) => this.onConnection(client));
  }

  listen() {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${this.server.address().port}`));
    });
  }

  onConnection(client) {
    const upstream = connect(this.targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => this.sockets.delete(s));
    }
    const pipe = (from, to) => {
      from.on('data', (buf) => { if (!this.frozen) to.write(buf); });
      from.on('end', () => { if (!this.frozen) to.end(); });
    };
    pipe(client, upstream);
    pipe(upstream, client);
    if (this.frozen) { client.pause(); upstream.pause(); }
  }

  freeze() {
    this.frozen = true;
    for (const s of this.sockets) s.pause();
  }

  close() {
    this.server.close();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
}

function procState(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch { return null; }
}

/**
 * Runs one host op. `ctx` = {vars, envdPort, proxies: [], log}.
 * Returns the op's result object; throws HostError on failure.
 */
export async function hostOp(op, args, ctx) {
  const a = args ?? {};
  switch (op) {
    case 'host.write_file': {
      requireWritable(op, a.path, ctx);
      const mode = a.mode !== undefined ? parseInt(String(a.mode), 8) : 0o644;
      mkdirSync(dirname(a.path), { recursive: true });
      writeFileSync(a.path, a.text ?? '', { mode });
      chmodSync(a.path, mode);
      if (a.owner !== undefined) {
        const e = passwdEntry(a.owner);
        if (!e) throw new HostError(`${op}: unknown owner ${a.owner}`);
        chownSync(a.path, e.uid, e.gid);
      }
      return {};
    }
    case 'host.read_file': {
      let st;
      try { st = statSync(a.path); } catch (e) { throw new HostError(`${op}: ${e.message}`); }
      const text = st.isFile() ? readFileSync(a.path, 'utf8') : '';
      return {
        text,
        mode: (st.mode & 0o7777).toString(8).padStart(4, '0'),
        uid: st.uid,
        gid: st.gid,
        owner: nameOf('/etc/passwd', st.uid),
        group: nameOf('/etc/group', st.gid),
        size: st.size,
        type: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other',
      };
    }
    case 'host.exists': {
      try { lstatSync(a.path); return { exists: true }; } catch { return { exists: false }; }
    }
    case 'host.mkdir': {
      requireWritable(op, a.path, ctx);
      mkdirSync(a.path, { recursive: true });
      if (a.mode !== undefined) chmodSync(a.path, parseInt(String(a.mode), 8));
      if (a.owner !== undefined) {
        const e = passwdEntry(a.owner);
        if (!e) throw new HostError(`${op}: unknown owner ${a.owner}`);
        chownSync(a.path, e.uid, e.gid);
      }
      return {};
    }
    case 'host.symlink': {
      requireWritable(op, a.path, ctx);
      symlinkSync(a.target, a.path);
      return {};
    }
    case 'host.sleep':
      await sleep(Number(a.ms ?? 0));
      return {};
    case 'host.http':
      return httpOp(a, ctx);
    case 'host.pid_alive': {
      const st = procState(Number(a.pid));
      return { alive: st !== null && st !== 'Z' && st !== 'X' };
    }
    case 'host.stall_proxy': {
      const proxy = new StallProxy(ctx.envdPort);
      ctx.proxies.push(proxy);
      return { url: await proxy.listen() };
    }
    case 'host.stall_proxy_freeze':
      if (ctx.proxies.length === 0) throw new HostError(`${op}: no stall proxy (use host.stall_proxy first)`);
      for (const p of ctx.proxies) p.freeze();
      return {};
    case 'host.url_edit': {
      let u;
      try { u = new URL(a.url, ctx.vars.url); } catch (e) { throw new HostError(`${op}: ${e.message}`); }
      for (const [k, v] of Object.entries(a.set ?? {})) u.searchParams.set(k, String(v));
      for (const k of a.delete ?? []) u.searchParams.delete(k);
      return { url: u.toString(), query: Object.fromEntries(u.searchParams) };
    }
    default:
      throw new HostError(`unknown host op ${op}`);
  }
}

/** One Connect envelope (flags 0) around a JSON message. */
function envelope(msg) {
  const json = Buffer.from(JSON.stringify(msg));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json]);
}

/** Splits a Connect streaming body into [{end, message}]. */
function unenvelope(buf) {
  const out = [];
  let off = 0;
  while (off + 5 <= buf.length) {
    const flags = buf[off];
    const len = buf.readUInt32BE(off + 1);
    const payload = buf.subarray(off + 5, off + 5 + len).toString();
    let message;
    try { message = JSON.parse(payload || '{}'); } catch { message = payload; }
    out.push({ end: (flags & 2) !== 0, message });
    off += 5 + len;
  }
  return out;
}

async function httpOp(a, ctx) {
  const url = new URL(a.url ?? '/', ctx.vars.url);
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') {
    throw new HostError(`host.http: refusing non-loopback URL ${url}`);
  }
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), Number(a.timeoutMs ?? 15000));
  let body = a.body === undefined ? undefined : String(a.body);
  if (a.bodyBase64 !== undefined) body = Buffer.from(String(a.bodyBase64), 'base64');
  const reqHeaders = { ...(a.headers ?? {}) };
  if (a.envelopes !== undefined) {
    body = Buffer.concat(a.envelopes.map((m) => envelope(m)));
    if (!Object.keys(reqHeaders).some((k) => k.toLowerCase() === 'content-type')) {
      reqHeaders['Content-Type'] = 'application/connect+json';
    }
  }
  try {
    const res = await fetch(url, {
      method: a.method ?? 'GET',
      headers: reqHeaders,
      body,
      signal: ac.signal,
      redirect: 'manual',
    });
    const raw = Buffer.from(await res.arrayBuffer());
    const text = raw.toString();
    const headers = {};
    res.headers.forEach((v, k) => { headers[k] = v; });
    const out = { status: res.status, headers, body: text };
    if (text) {
      try { out.json = JSON.parse(text); } catch { /* not JSON */ }
    }
    if ((headers['content-type'] ?? '').startsWith('application/connect+json')) out.envelopes = unenvelope(raw);
    return out;
  } catch (e) {
    throw new HostError(`host.http ${a.method ?? 'GET'} ${url}: ${e.cause?.message ?? e.message}`);
  } finally {
    clearTimeout(timer);
  }
}
