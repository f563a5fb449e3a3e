#!/usr/bin/env node
// Reference adapter: implements the conformance adapter protocol
// (conformance/PROTOCOL.md) directly on envd's wire protocol (Connect JSON
// over fetch, plain HTTP for /files), without any SDK. It exists to check
// the cases themselves against envd; SDK adapters live in
// conformance/adapters/<sdk>/. Run the suite with it:
//   node conformance/runner/run.mjs --sdk ref
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const BASE = process.env.ENVD_URL;
if (!BASE) { process.stderr.write('ENVD_URL is not set\n'); process.exit(2); }

// The code of a plain-HTTP failure whose body names none: the table both SDKs share.
const HTTP_FALLBACK = JSON.parse(readFileSync(new URL('../http-status-fallback.json', import.meta.url), 'utf8'));

class OpError extends Error {
  constructor(code, message, httpStatus, reason) {
    super(message);
    this.code = code;
    this.httpStatus = httpStatus;
    this.reason = reason;
  }
}

// envd.common.v1.ErrorReason, by number (proto/envd/common/v1/error.proto).
const REASONS = [
  'UNSPECIFIED', 'PATH_NOT_FOUND', 'NOT_A_DIRECTORY', 'IS_A_DIRECTORY', 'PATH_EXISTS',
  'NOT_A_REGULAR_FILE', 'SYMLINK_LOOP', 'INVALID_PATH', 'NETWORK_MOUNT', 'WATCHER_NOT_FOUND',
  'PROCESS_NOT_FOUND', 'CWD_NOT_FOUND', 'SPAWN_FAILED', 'INVALID_PTY_SIZE', 'PTY_REQUIRED',
  'PTY_NOT_ALLOWED', 'STDIN_CLOSED', 'UNSUPPORTED_SIGNAL', 'UNKNOWN_USER', 'ACCESS_TOKEN_INVALID',
  'SIGNATURE_INVALID', 'SIGNATURE_EXPIRED', 'PERMISSION_DENIED', 'NO_SPACE', 'INVALID_REQUEST',
  'RANGE_NOT_SATISFIABLE', 'PRECONDITION_FAILED', 'NOT_ACCEPTABLE', 'STREAM_FELL_BEHIND',
  'STREAM_STALLED', 'INTERNAL', 'SHUTTING_DOWN',
].map((r) => `ERROR_REASON_${r}`);
// Reasons numbered past the contiguous block above.
Object.assign(REASONS, {
  100: 'ERROR_REASON_NOT_INITIALIZED', 101: 'ERROR_REASON_UPGRADE_BINARY_INVALID',
  102: 'ERROR_REASON_HANDOVER_SCHEMA_REJECTED', 103: 'ERROR_REASON_UPGRADE_FAILED',
  104: 'ERROR_REASON_PAYLOAD_TOO_LARGE', 200: 'ERROR_REASON_SEQUENCE_GAP',
  201: 'ERROR_REASON_SEQUENCE_OUT_OF_RANGE', 202: 'ERROR_REASON_SEQUENCE_BACKLOG',
  203: 'ERROR_REASON_OFFSET_OUT_OF_RANGE',
});
const DETAIL_TYPE = 'envd.common.v1.ErrorDetail';

/** Field 1 (varint) of a binary envd.common.v1.ErrorDetail, or undefined. */
function decodeDetail(bytes) {
  let i = 0;
  const varint = () => {
    let v = 0;
    for (let shift = 0; i < bytes.length && shift < 35; shift += 7) {
      const b = bytes[i++];
      v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return v;
    }
    throw new Error('bad varint');
  };
  let reason;
  try {
    while (i < bytes.length) {
      const key = varint();
      const wire = key & 7;
      if (wire === 0) { const v = varint(); if (key >>> 3 === 1) reason = v; }
      else if (wire === 2) i += varint();
      else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else return undefined;
    }
  } catch { return undefined; }
  return reason;
}

/** The reason name envd gave in an error body: a Connect error's `details`, or a plain-HTTP body's `reason`. */
function reasonOf(j) {
  if (j === null || typeof j !== 'object') return undefined;
  let name;
  if (typeof j.reason === 'string') name = j.reason;
  else if (Array.isArray(j.details)) {
    const d = j.details.find((x) => x?.type === DETAIL_TYPE && typeof x.value === 'string');
    if (d) name = REASONS[decodeDetail(Buffer.from(d.value, 'base64'))];
  }
  return name && name !== REASONS[0] ? name : undefined;
}

/** The OpError for a failed Connect call or plain-HTTP request with status `status` and body `text`. */
function bodyError(status, text, { connect = true } = {}) {
  let j = {};
  try { j = JSON.parse(text); } catch { /* not JSON */ }
  // A Connect body names its code in `code`; a plain-HTTP body in `connectCode` (`code` is the status).
  const named = connect ? j.code : j.connectCode;
  const code = typeof named === 'string' ? named : HTTP_FALLBACK.codes[status] ?? HTTP_FALLBACK.otherwise;
  return new OpError(code, j.message ?? text, status, reasonOf(j));
}

let client = { url: BASE, accessToken: null, user: null, keepaliveIntervalMs: null };
const handles = new Map();
let nextHandle = 1;
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

function headers(extra = {}, opts = {}) {
  const h = { ...extra };
  if (client.accessToken) h['X-Access-Token'] = client.accessToken;
  const user = opts.user ?? client.user;
  if (user) h.Authorization = `Basic ${Buffer.from(`${user}:`).toString('base64')}`;
  return h;
}

async function unary(path, body, opts = {}) {
  const extra = { 'Content-Type': 'application/json' };
  if (opts.timeoutMs) extra['Connect-Timeout-Ms'] = String(opts.timeoutMs);
  const res = await fetch(`${client.url}/${path}`, {
    method: 'POST',
    headers: headers(extra, opts),
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200) throw bodyError(res.status, text);
  return text ? JSON.parse(text) : {};
}

/** Server stream: calls onMsg(json) per message; resolves at end-stream, rejects with OpError. */
function serverStream(path, body, onMsg, opts = {}) {
  const ac = new AbortController();
  const h = headers({ 'Content-Type': 'application/connect+json' }, opts);
  if (opts.timeoutMs) h['Connect-Timeout-Ms'] = String(opts.timeoutMs);
  const ka = client.keepaliveIntervalMs;
  h['Keepalive-Ping-Interval'] = String(ka ? Math.max(1, Math.ceil(ka / 1000)) : 50);
  const payload = Buffer.from(JSON.stringify(body));
  const env = Buffer.alloc(5 + payload.length);
  env.writeUInt8(0, 0);
  env.writeUInt32BE(payload.length, 1);
  payload.copy(env, 5);
  let stalled = false;
  let watchdog = null;
  const arm = () => {
    if (!ka) return;
    clearTimeout(watchdog);
    watchdog = setTimeout(() => { stalled = true; ac.abort(); }, ka * 3);
  };
  const done = (async () => {
    arm();
    try {
      const res = await fetch(`${client.url}/${path}`, { method: 'POST', headers: h, body: env, signal: ac.signal });
      if (res.status !== 200) {
        throw bodyError(res.status, await res.text());
      }
      let buf = Buffer.alloc(0);
      for await (const chunk of res.body) {
        arm();
        buf = Buffer.concat([buf, Buffer.from(chunk)]);
        while (buf.length >= 5) {
          const len = buf.readUInt32BE(1);
          if (buf.length < 5 + len) break;
          const flags = buf[0];
          const msg = JSON.parse(buf.subarray(5, 5 + len).toString() || '{}');
          buf = buf.subarray(5 + len);
          if (flags & 2) {
            if (msg.error) throw new OpError(msg.error.code ?? 'unknown', msg.error.message ?? '', undefined, reasonOf(msg.error));
            return;
          }
          onMsg(msg);
        }
      }
      throw new OpError('internal', 'stream ended without end-stream message');
    } catch (e) {
      if (e instanceof OpError) throw e;
      if (stalled) throw new OpError('unavailable', `stream stalled: no keepalive within ${ka * 3} ms`, undefined, 'ERROR_REASON_STREAM_STALLED');
      if (ac.signal.aborted) throw new OpError('canceled', 'stream canceled');
      throw new OpError('unavailable', String(e.cause?.message ?? e.message));
    } finally {
      clearTimeout(watchdog);
    }
  })();
  return { done, abort: () => ac.abort() };
}

function procConfig(a) {
  const p = { cmd: a.cmd, args: a.args ?? [], envs: a.envs ?? {} };
  if (a.cwd !== undefined) p.cwd = a.cwd;
  return p;
}

function selector(a) {
  if (a.pid !== undefined) return { pid: Number(a.pid) };
  if (a.tag !== undefined) return { tag: a.tag };
  if (a.handle !== undefined) return { pid: getHandle(a.handle).pid };
  throw new OpError('invalid_argument', 'pid, tag or handle required');
}

function getHandle(id) {
  const h = handles.get(id);
  if (!h) throw new OpError('invalid_argument', `unknown handle ${id}`);
  return h;
}

/** Starts a process stream (Start or Connect); resolves with the handle once the start event arrived. */
function attach(path, body, opts) {
  const h = { id: `h${nextHandle++}`, pid: null, stdout: [], stderr: [], pty: [], end: null, error: null, finished: false };
  let started;
  const startP = new Promise((resolve, reject) => { started = { resolve, reject }; });
  const s = serverStream(path, body, (msg) => {
    const ev = msg.event ?? {};
    if (ev.start) { h.pid = ev.start.pid; started.resolve(); }
    if (ev.data) {
      if (ev.data.stdout) h.stdout.push(Buffer.from(ev.data.stdout, 'base64'));
      if (ev.data.stderr) h.stderr.push(Buffer.from(ev.data.stderr, 'base64'));
      if (ev.data.pty) h.pty.push(Buffer.from(ev.data.pty, 'base64'));
    }
    if (ev.end) h.end = ev.end;
  }, opts);
  h.abort = s.abort;
  h.done = s.done.then(() => { h.finished = true; }, (e) => { h.finished = true; h.error = e; });
  h.done.then(() => started.reject(h.error ?? new OpError('internal', 'stream ended before start')));
  handles.set(h.id, h);
  return startP.then(() => h);
}

function result(h) {
  const e = h.end ?? {};
  const r = {
    exitCode: e.exitCode ?? 0,
    stdout: Buffer.concat(h.stdout).toString(),
    stderr: Buffer.concat(h.stderr).toString(),
    exited: e.exited ?? false,
    status: e.status ?? '',
  };
  if (e.error) r.error = e.error;
  return r;
}

async function waitDone(h, timeoutMs) {
  const t = Number(timeoutMs ?? 60000);
  const timer = sleep(t).then(() => 'timeout');
  if (await Promise.race([h.done.then(() => 'done'), timer]) === 'timeout') {
    throw new OpError('deadline_exceeded', `not finished within ${t} ms`);
  }
  if (h.error) throw h.error;
  if (!h.end) throw new OpError('internal', 'stream ended without an end event');
}

async function readUntil(h, field, contains, timeoutMs) {
  const deadline = Date.now() + Number(timeoutMs ?? 10000);
  for (;;) {
    const text = Buffer.concat(h[field]).toString();
    if (text.includes(contains)) return text;
    if (h.finished) throw h.error ?? new OpError('deadline_exceeded', `stream ended without ${JSON.stringify(contains)}`);
    if (Date.now() > deadline) throw new OpError('deadline_exceeded', `${JSON.stringify(contains)} not seen`);
    await sleep(20);
  }
}

const FILE_TYPES = { FILE_TYPE_FILE: 'file', FILE_TYPE_DIRECTORY: 'dir', FILE_TYPE_SYMLINK: 'symlink' };
function entry(e) {
  const out = {
    name: e.name, type: FILE_TYPES[e.type] ?? 'unspecified', path: e.path, size: Number(e.size ?? 0),
    mode: e.mode ?? 0, permissions: e.permissions, owner: e.owner, group: e.group, modifiedTime: e.modifiedTime,
  };
  if (e.symlinkTarget !== undefined) out.symlinkTarget = e.symlinkTarget;
  if (e.metadata !== undefined && Object.keys(e.metadata).length > 0) out.metadata = e.metadata;
  return out;
}
function writeInfo(e) {
  const out = { name: e.name, path: e.path, type: e.type };
  if (e.metadata !== undefined && Object.keys(e.metadata).length > 0) out.metadata = e.metadata;
  return out;
}
function metadataHeaders(metadata) {
  const h = {};
  for (const [k, v] of Object.entries(metadata ?? {})) h[`X-Metadata-${k}`] = v;
  return h;
}
const EVENT_TYPES = {
  EVENT_TYPE_CREATE: 'create', EVENT_TYPE_WRITE: 'write', EVENT_TYPE_REMOVE: 'remove', EVENT_TYPE_RENAME: 'rename', EVENT_TYPE_CHMOD: 'chmod',
};

async function httpError(res) {
  return bodyError(res.status, await res.text(), { connect: false });
}

function filesUrl(path, user, extra = {}) {
  const u = new URL('/files', client.url);
  if (path !== undefined) u.searchParams.set('path', path);
  if (user) u.searchParams.set('username', user);
  for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v);
  return u;
}

function signedUrl(a, operation) {
  const u = filesUrl(a.path, a.user);
  if (client.accessToken) {
    const exp = a.expiresInSeconds ? Math.floor(Date.now() / 1000) + Number(a.expiresInSeconds) : null;
    const raw = `${a.path ?? ''}:${operation}:${a.user ?? ''}:${client.accessToken}${exp !== null ? `:${exp}` : ''}`;
    const sig = `v1_${createHash('sha256').update(raw).digest('base64').replace(/=+$/, '')}`;
    u.searchParams.set('signature', sig);
    if (exp !== null) u.searchParams.set('signature_expiration', String(exp));
  }
  return u.toString();
}

function filesHttpHeaders() {
  const h = {};
  if (client.accessToken) h['X-Access-Token'] = client.accessToken;
  return h;
}

const ops = {
  async 'client.configure'(a) {
    client = { url: a.url ?? BASE, accessToken: a.accessToken ?? null, user: a.user ?? null, keepaliveIntervalMs: a.keepaliveIntervalMs ?? null };
    return {};
  },
  async health() {
    const res = await fetch(`${client.url}/health`);
    if (!res.ok) throw await httpError(res);
    return res.json();
  },
  async metrics() {
    const res = await fetch(`${client.url}/metrics`, { headers: headers() });
    if (!res.ok) throw await httpError(res);
    return res.json();
  },
  async envs() {
    const res = await fetch(`${client.url}/envs`, { headers: headers() });
    if (!res.ok) throw await httpError(res);
    return res.json();
  },
  async init(a) {
    const body = {};
    for (const k of ['accessToken', 'envVars', 'defaultUser', 'defaultWorkdir', 'timestamp']) if (a[k] !== undefined) body[k] = a[k];
    const res = await fetch(`${client.url}/init`, { method: 'POST', headers: { ...headers(), 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status !== 204) throw await httpError(res);
    if (a.accessToken !== undefined) client.accessToken = a.accessToken;
    return {};
  },
  async 'snapshot.prepare'() {
    const res = await fetch(`${client.url}/snapshot/prepare`, { method: 'POST', headers: headers() });
    if (!res.ok) throw await httpError(res);
    return {};
  },
  async 'commands.run'(a) {
    const withStdin = typeof a.stdin === 'string';
    const req = { process: procConfig(a), stdin: withStdin };
    if (a.tag !== undefined) req.tag = a.tag;
    const h = await attach('process.Process/Start', req, { user: a.user, timeoutMs: a.timeoutMs });
    if (withStdin) {
      await unary('process.Process/SendInput', { process: { pid: h.pid }, input: { stdin: Buffer.from(a.stdin).toString('base64') } });
      await unary('process.Process/CloseStdin', { process: { pid: h.pid } });
    }
    await waitDone(h, 600000);
    return { pid: h.pid, ...result(h) };
  },
  async 'commands.spawn'(a) {
    const req = { process: procConfig(a), stdin: a.stdin === true };
    if (a.tag !== undefined) req.tag = a.tag;
    const h = await attach('process.Process/Start', req, { user: a.user, timeoutMs: a.timeoutMs });
    return { handle: h.id, pid: h.pid };
  },
  async 'commands.connect'(a) {
    const h = await attach('process.Process/Connect', { process: selector(a) }, {});
    return { handle: h.id, pid: h.pid };
  },
  async 'commands.list'() {
    const r = await unary('process.Process/List', {});
    return {
      processes: (r.processes ?? []).map((p) => ({
        pid: p.pid, tag: p.tag, cmd: p.config?.cmd, args: p.config?.args ?? [], envs: p.config?.envs ?? {}, cwd: p.config?.cwd,
      })),
    };
  },
  async 'commands.send_stdin'(a) {
    await unary('process.Process/SendInput', { process: selector(a), input: { stdin: Buffer.from(a.data).toString('base64') } });
    return {};
  },
  async 'commands.close_stdin'(a) {
    await unary('process.Process/CloseStdin', { process: selector(a) });
    return {};
  },
  async 'commands.signal'(a) {
    await unary('process.Process/SendSignal', { process: selector(a), signal: `SIGNAL_${a.signal}` });
    return {};
  },
  async 'commands.kill'(a) {
    try {
      await unary('process.Process/SendSignal', { process: selector(a), signal: 'SIGNAL_SIGKILL' });
      return { killed: true };
    } catch (e) {
      if (e.code === 'not_found') return { killed: false };
      throw e;
    }
  },
  async 'handle.wait'(a) {
    const h = getHandle(a.handle);
    await waitDone(h, a.timeoutMs);
    return result(h);
  },
  async 'handle.read_until'(a) {
    const h = getHandle(a.handle);
    await readUntil(h, 'stdout', a.contains, a.timeoutMs);
    return { stdout: Buffer.concat(h.stdout).toString(), stderr: Buffer.concat(h.stderr).toString() };
  },
  async 'handle.send_stdin'(a) {
    await unary('process.Process/SendInput', { process: { pid: getHandle(a.handle).pid }, input: { stdin: Buffer.from(a.data).toString('base64') } });
    return {};
  },
  async 'handle.close_stdin'(a) {
    await unary('process.Process/CloseStdin', { process: { pid: getHandle(a.handle).pid } });
    return {};
  },
  async 'handle.kill'(a) {
    await ops['commands.kill']({ pid: getHandle(a.handle).pid });
    return {};
  },
  async 'handle.disconnect'(a) {
    const h = getHandle(a.handle);
    h.abort();
    await h.done;
    return {};
  },
  async 'pty.create'(a) {
    const req = {
      process: { cmd: a.cmd ?? '/bin/bash', args: a.args ?? (a.cmd ? [] : ['-i', '-l']), envs: { TERM: 'xterm-256color', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', ...(a.envs ?? {}) } },
      pty: { size: { cols: a.cols, rows: a.rows } },
    };
    if (a.cwd !== undefined) req.process.cwd = a.cwd;
    const h = await attach('process.Process/Start', req, { user: a.user, timeoutMs: a.timeoutMs });
    return { handle: h.id, pid: h.pid };
  },
  async 'pty.write'(a) {
    await unary('process.Process/SendInput', { process: { pid: getHandle(a.handle).pid }, input: { pty: Buffer.from(a.data).toString('base64') } });
    return {};
  },
  async 'pty.resize'(a) {
    await unary('process.Process/Update', { process: { pid: getHandle(a.handle).pid }, pty: { size: { cols: a.cols, rows: a.rows } } });
    return {};
  },
  async 'pty.read_until'(a) {
    const h = getHandle(a.handle);
    const output = await readUntil(h, 'pty', a.contains, a.timeoutMs);
    return { output };
  },
  async 'pty.kill'(a) {
    await ops['commands.kill']({ pid: getHandle(a.handle).pid });
    return {};
  },
  async 'pty.wait'(a) {
    const h = getHandle(a.handle);
    await waitDone(h, a.timeoutMs);
    const r = result(h);
    const out = { exitCode: r.exitCode, output: Buffer.concat(h.pty).toString(), exited: r.exited, status: r.status };
    if (r.error) out.error = r.error;
    return out;
  },
  async 'files.read'(a) {
    const res = await fetch(filesUrl(a.path, a.user ?? client.user), { headers: filesHttpHeaders() });
    if (res.status !== 200) throw await httpError(res);
    const buf = Buffer.from(await res.arrayBuffer());
    return a.format === 'text' || a.format === undefined ? { text: buf.toString() } : { base64: buf.toString('base64') };
  },
  async 'files.write'(a) {
    const data = a.base64 !== undefined ? Buffer.from(a.base64, 'base64') : Buffer.from(a.text ?? '');
    let res;
    if (a.format === 'stream') {
      res = await fetch(filesUrl(a.path, a.user ?? client.user), { method: 'POST', headers: { ...(filesHttpHeaders()), ...metadataHeaders(a.metadata), 'Content-Type': 'application/octet-stream' }, body: data });
    } else {
      const form = new FormData();
      form.append('file', new Blob([data]), a.path);
      res = await fetch(filesUrl(a.path, a.user ?? client.user), { method: 'POST', headers: { ...filesHttpHeaders(), ...metadataHeaders(a.metadata) }, body: form });
    }
    if (res.status !== 200) throw await httpError(res);
    return { entries: (await res.json()).map(writeInfo) };
  },
  async 'files.write_many'(a) {
    const form = new FormData();
    for (const f of a.files) form.append('file', new Blob([Buffer.from(f.text ?? '')]), f.path);
    const res = await fetch(filesUrl(undefined, a.user ?? client.user), { method: 'POST', headers: { ...filesHttpHeaders(), ...metadataHeaders(a.metadata) }, body: form });
    if (res.status !== 200) throw await httpError(res);
    return { entries: (await res.json()).map(writeInfo) };
  },
  async 'files.compose'(a) {
    const user = a.user ?? client.user;
    const body = { source_paths: a.sources, destination: a.destination };
    if (user) body.username = user;
    const res = await fetch(new URL('/files/compose', client.url), {
      method: 'POST', headers: { ...filesHttpHeaders(), 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    if (res.status !== 200) throw await httpError(res);
    return writeInfo(await res.json());
  },
  async 'files.list'(a) {
    const r = await unary('filesystem.Filesystem/ListDir', { path: a.path, depth: a.depth ?? 1 }, { user: a.user });
    return { entries: (r.entries ?? []).map(entry) };
  },
  async 'files.stat'(a) {
    const r = await unary('filesystem.Filesystem/Stat', { path: a.path }, { user: a.user });
    return entry(r.entry);
  },
  async 'files.exists'(a) {
    try {
      await unary('filesystem.Filesystem/Stat', { path: a.path }, { user: a.user });
      return { exists: true };
    } catch (e) {
      if (e.code === 'not_found') return { exists: false };
      throw e;
    }
  },
  async 'files.make_dir'(a) {
    const r = await unary('filesystem.Filesystem/MakeDir', { path: a.path }, { user: a.user });
    return entry(r.entry);
  },
  async 'files.rename'(a) {
    const r = await unary('filesystem.Filesystem/Move', { source: a.from, destination: a.to }, { user: a.user });
    return entry(r.entry);
  },
  async 'files.remove'(a) {
    if (typeof a.path !== 'string' || !a.path.startsWith('/') || a.path.length < 6) throw new OpError('invalid_argument', 'ref adapter refuses this path');
    await unary('filesystem.Filesystem/Remove', { path: a.path }, { user: a.user });
    return {};
  },
  async 'files.watch'(a) {
    const h = { id: `w${nextHandle++}`, events: [], error: null, finished: false };
    let started;
    const startP = new Promise((resolve, reject) => { started = { resolve, reject }; });
    const s = serverStream('filesystem.Filesystem/WatchDir', { path: a.path, recursive: a.recursive === true }, (msg) => {
      if (msg.start) started.resolve();
      if (msg.filesystem) h.events.push({ name: msg.filesystem.name, type: EVENT_TYPES[msg.filesystem.type] ?? msg.filesystem.type });
    }, { user: a.user });
    h.abort = s.abort;
    h.done = s.done.then(() => { h.finished = true; }, (e) => { h.finished = true; h.error = e; });
    h.done.then(() => started.reject(h.error ?? new OpError('internal', 'watch ended before start')));
    handles.set(h.id, h);
    await startP;
    return { handle: h.id };
  },
  async 'watch.events'(a) {
    const h = getHandle(a.handle);
    const deadline = Date.now() + Number(a.timeoutMs ?? 10000);
    while (h.events.length < Number(a.count ?? 0)) {
      if (h.finished && h.error) throw h.error;
      if (Date.now() > deadline) throw new OpError('deadline_exceeded', `only ${h.events.length} events: ${JSON.stringify(h.events)}`);
      await sleep(20);
    }
    return { events: h.events };
  },
  async 'watch.stop'(a) {
    const h = getHandle(a.handle);
    h.abort();
    await h.done;
    return {};
  },
  async 'files.download_url'(a) { return { url: signedUrl(a, 'read') }; },
  async 'files.upload_url'(a) { return { url: signedUrl(a, 'write') }; },
};

// ---- Terminal sessions (envd.pty.v1.Pty), on the wire: Connect JSON, uint64 as strings, bytes as base64.
const PTY = 'envd.pty.v1.Pty';
const STREAM_NAMES = { STREAM_PTY: 'pty', STREAM_STDOUT: 'stdout', STREAM_STDERR: 'stderr' };

/** The wire operation for a case's `{input}` / `{resize}` / `{signal}`. */
function wireOp(op) {
  if (op.input !== undefined) return { input: Buffer.from(op.input).toString('base64') };
  if (op.resize !== undefined) return { resize: { cols: op.resize.cols, rows: op.resize.rows } };
  if (op.signal !== undefined) return { signal: `SIGNAL_${op.signal}` };
  throw new OpError('invalid_argument', `bad op ${JSON.stringify(op)}`);
}

/**
 * A terminal session: one Create/Attach stream at a time; output trimmed to
 * the next expected offset per stream, so a reattach after drop_stream
 * delivers each byte once; sends are sequenced from `nextSeq`.
 */
function terminalSession(path, body, opts = {}) {
  const h = {
    id: `t${nextHandle++}`, pid: null, pty: true, nextSeq: 1, chunks: [], expected: {}, exit: null, error: null,
    finished: false, stream: null, dropping: false,
  };
  let started;
  const startP = new Promise((resolve, reject) => { started = { resolve, reject }; });
  const open = (p, b) => {
    const s = serverStream(p, b, (msg) => {
      const ev = msg.event ?? {};
      if (ev.started) {
        if (h.pid === null) {
          h.pid = ev.started.pid;
          h.pty = ev.started.pty === true;
          h.nextSeq = Number(ev.started.lastAppliedSeq ?? 0) + 1;
        }
        started.resolve();
      } else if (ev.output) {
        const stream = STREAM_NAMES[ev.output.stream];
        const data = Buffer.from(ev.output.data ?? '', 'base64');
        const offset = Number(ev.output.offset ?? 0);
        const expected = h.expected[stream] ?? offset;
        const end = offset + data.length;
        if (end <= expected) return;
        if (offset > expected) h.chunks.push({ lost: { stream, lostBytes: offset - expected, resumeOffset: offset } });
        h.chunks.push({ stream, data: data.subarray(Math.max(0, expected - offset)) });
        h.expected[stream] = end;
      } else if (ev.lost) {
        const stream = STREAM_NAMES[ev.lost.stream];
        h.expected[stream] = Number(ev.lost.resumeOffset ?? 0);
      } else if (ev.exit) {
        h.exit = ev.exit;
      }
    }, opts);
    h.stream = s;
    h.done = s.done.then(() => {
      if (!h.exit) throw new OpError('unavailable', 'terminal stream ended without an exit event');
      h.finished = true;
    }).catch(async (e) => {
      if (h.dropping && !h.exit) {
        h.dropping = false;
        const mainStream = h.pty ? 'pty' : 'stdout';
        const again = { process: { pid: h.pid } };
        if (h.expected[mainStream] !== undefined) again.offset = String(h.expected[mainStream]);
        if (h.expected.stderr !== undefined) again.stderrOffset = String(h.expected.stderr);
        open(`${PTY}/Attach`, again);
        return h.done;
      }
      h.finished = true;
      h.error = e;
      started.reject(e);
      return undefined;
    });
  };
  open(path, body);
  if (body.offset !== undefined) h.expected.pty = Number(body.offset);
  handles.set(h.id, h);
  return startP.then(() => {
    if (!h.pty && body.offset !== undefined) { delete h.expected.pty; h.expected.stdout = Number(body.offset); }
    return h;
  });
}

function terminalText(h) {
  const main = h.pty ? 'pty' : 'stdout';
  return Buffer.concat(h.chunks.filter((c) => c.stream === main).map((c) => c.data)).toString();
}

async function terminalSend(h, ops) {
  const seq = h.nextSeq;
  await unary(`${PTY}/Send`, { process: { pid: h.pid }, seq: String(seq), operations: ops });
  h.nextSeq = seq + 1;
  return {};
}

async function terminalDone(h, timeoutMs) {
  const t = Number(timeoutMs ?? 60000);
  for (const deadline = Date.now() + t; ;) {
    if (h.finished) break;
    if (Date.now() > deadline) throw new OpError('deadline_exceeded', `not finished within ${t} ms`);
    await sleep(20);
  }
  if (h.error) throw h.error;
}

Object.assign(ops, {
  async 'terminal.create'(a) {
    const body = { size: { cols: a.cols, rows: a.rows }, command: a.cmd ?? '', args: a.args ?? [], envs: a.envs ?? {} };
    if (a.cwd !== undefined) body.cwd = a.cwd;
    if (a.tag !== undefined) body.tag = a.tag;
    if (a.user !== undefined) body.user = a.user;
    const h = await terminalSession(`${PTY}/Create`, body);
    return { handle: h.id, pid: h.pid };
  },
  async 'terminal.attach'(a) {
    const body = { process: a.pid !== undefined ? { pid: Number(a.pid) } : { tag: a.tag } };
    if (a.offset !== undefined) body.offset = String(a.offset);
    const h = await terminalSession(`${PTY}/Attach`, body);
    return { handle: h.id, pid: h.pid, pty: h.pty };
  },
  async 'terminal.write'(a) { return terminalSend(getHandle(a.handle), [wireOp({ input: a.data })]); },
  async 'terminal.resize'(a) { return terminalSend(getHandle(a.handle), [wireOp({ resize: { cols: a.cols, rows: a.rows } })]); },
  async 'terminal.signal'(a) { return terminalSend(getHandle(a.handle), [wireOp({ signal: a.signal })]); },
  async 'terminal.read_until'(a) {
    const h = getHandle(a.handle);
    const deadline = Date.now() + Number(a.timeoutMs ?? 10000);
    for (;;) {
      const text = terminalText(h);
      if (text.includes(a.contains)) return { output: text };
      if (h.finished) throw h.error ?? new OpError('deadline_exceeded', `stream ended without ${JSON.stringify(a.contains)}`);
      if (Date.now() > deadline) throw new OpError('deadline_exceeded', `${JSON.stringify(a.contains)} not seen`);
      await sleep(20);
    }
  },
  async 'terminal.drop_stream'(a) {
    const h = getHandle(a.handle);
    if (!h.finished) { h.dropping = true; h.stream.abort(); }
    return {};
  },
  async 'terminal.wait'(a) {
    const h = getHandle(a.handle);
    await terminalDone(h, a.timeoutMs);
    const e = h.exit;
    const out = { exitCode: e.exitCode ?? 0, exited: e.exited ?? false, status: e.status ?? '', output: terminalText(h) };
    if (e.error) out.error = e.error;
    return out;
  },
  async 'terminal.close'(a) {
    const body = { process: { pid: getHandle(a.handle).pid } };
    if (a.graceMs !== undefined) body.graceMs = a.graceMs;
    await unary(`${PTY}/Close`, body);
    return {};
  },
  async 'terminal.list'() {
    const r = await unary(`${PTY}/List`, {});
    const terminals = (r.terminals ?? []).map((t) => {
      const out = { pid: t.pid, cols: t.size?.cols ?? 0, rows: t.size?.rows ?? 0 };
      if (t.tag !== undefined) out.tag = t.tag;
      return out;
    });
    terminals.sort((x, y) => x.pid - y.pid);
    return { terminals };
  },
  async 'terminal.send_raw'(a) {
    const r = await unary(`${PTY}/Send`, { process: { pid: Number(a.pid) }, seq: String(a.seq), operations: (a.ops ?? []).map(wireOp) }, { timeoutMs: a.timeoutMs });
    return { lastAppliedSeq: Number(r.lastAppliedSeq ?? 0) };
  },
  async 'terminal.attach_raw'(a) {
    const body = { process: { pid: Number(a.pid) } };
    if (a.offset !== undefined) body.offset = String(a.offset);
    if (a.stderrOffset !== undefined) body.stderrOffset = String(a.stderrOffset);
    const out = { pty: false, lastAppliedSeq: 0, events: [] };
    const t = Number(a.timeoutMs ?? 10000);
    const s = serverStream(`${PTY}/Attach`, body, (msg) => {
      const ev = msg.event ?? {};
      if (ev.started) { out.pty = ev.started.pty === true; out.lastAppliedSeq = Number(ev.started.lastAppliedSeq ?? 0); }
      if (ev.output) {
        const stream = STREAM_NAMES[ev.output.stream];
        const text = Buffer.from(ev.output.data ?? '', 'base64').toString('latin1');
        const last = out.events.at(-1);
        if (last?.output?.stream === stream) last.output.text += text;
        else out.events.push({ output: { stream, offset: Number(ev.output.offset ?? 0), text } });
      }
      if (ev.lost) {
        out.events.push({ lost: { stream: STREAM_NAMES[ev.lost.stream], lostBytes: Number(ev.lost.lostBytes ?? 0), resumeOffset: Number(ev.lost.resumeOffset ?? 0) } });
      }
      if (ev.exit) out.events.push({ exit: { exitCode: ev.exit.exitCode ?? 0, exited: ev.exit.exited ?? false } });
    });
    const timer = sleep(t).then(() => 'timeout');
    if (await Promise.race([s.done.then(() => 'done'), timer]) === 'timeout') {
      s.abort();
      throw new OpError('deadline_exceeded', `attach did not end within ${t} ms`);
    }
    for (const e of out.events) if (e.output) e.output.text = Buffer.from(e.output.text, 'latin1').toString();
    return out;
  },
});

const rl = createInterface({ input: process.stdin });
let queue = Promise.resolve();
rl.on('line', (line) => {
  if (!line.trim()) return;
  queue = queue.then(async () => {
    const req = JSON.parse(line);
    let out;
    try {
      const fn = ops[req.op];
      if (!fn) throw new OpError('unimplemented', `unknown op ${req.op}`);
      out = { id: req.id, ok: await fn(req.args ?? {}) };
    } catch (e) {
      const err = { code: e.code ?? 'unknown', message: e.message };
      if (e.httpStatus !== undefined) err.httpStatus = e.httpStatus;
      if (e.reason !== undefined) err.reason = e.reason;
      if (!(e instanceof OpError)) process.stderr.write(`${e.stack}\n`);
      out = { id: req.id, error: err };
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  });
});
rl.on('close', () => { queue.then(() => process.exit(0)); });
