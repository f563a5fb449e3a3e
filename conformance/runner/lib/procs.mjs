// Starting and stopping envd and the adapter (each in its own process group).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** ppid of `pid` from /proc, or null. */
function ppidOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch { return null; }
}

/** All live descendants of `root` (children, grandchildren, …). */
export function descendants(root) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const pp = ppidOf(pid);
    if (pp === null) continue;
    if (!children.has(pp)) children.set(pp, []);
    children.get(pp).push(pid);
  }
  const out = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop();
    for (const c of children.get(p) ?? []) { out.push(c); stack.push(c); }
  }
  return out;
}

function tryKill(pid, sig) {
  try { process.kill(pid, sig); } catch { /* gone */ }
}

/**
 * Kills a child we started: its descendants (processes envd spawned for the
 * case, which may have their own sessions), its process group and itself.
 */
export async function killTree(child) {
  if (!child || child.pid === undefined) return;
  const pid = child.pid;
  const kids = descendants(pid);
  for (const k of kids) tryKill(k, 'SIGKILL');
  tryKill(-pid, 'SIGKILL');
  tryKill(pid, 'SIGKILL');
  if (child.exitCode === null && child.signalCode === null) {
    await new Promise((resolve) => {
      const t = setTimeout(resolve, 2000);
      child.once('exit', () => { clearTimeout(t); resolve(); });
    });
  }
  // Orphans reparented away from envd before it died.
  for (const k of kids) tryKill(k, 'SIGKILL');
}

/** Starts envd on 127.0.0.1:0; resolves {child, port, url, stderr()} once it prints its listening line. */
export function startEnvd(bin, stateDir, extraArgs = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [
      '--addr', '127.0.0.1:0',
      '--run-dir', `${stateDir}/run`,
      '--hosts-file', `${stateDir}/hosts`,
      '--drop-caches', `${stateDir}/drop_caches`,
      ...extraArgs,
    ], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ENVD_LOG: process.env.ENVD_LOG ?? 'warn' },
    });
    let err = '';
    child.stderr.on('data', (b) => { err = (err + b.toString()).slice(-20000); });
    const timer = setTimeout(() => { killTree(child); reject(new Error(`envd did not start within 15s: ${err}`)); }, 15000);
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot start envd ${bin}: ${e.message}`)); });
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`envd exited early (${code ?? sig}): ${err}`));
    });
    const rl = createInterface({ input: child.stdout });
    rl.once('line', (line) => {
      clearTimeout(timer);
      const m = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(line);
      if (!m) { killTree(child); reject(new Error(`unexpected first line from envd: ${line}`)); return; }
      child.stdout.resume();
      resolve({ child, url: m[1], port: Number(m[2]), stderr: () => err });
    });
  });
}

/** The adapter: a line-oriented JSON request/response peer. */
export class Adapter {
  constructor(command, env) {
    this.stderrText = '';
    this.pending = null;
    this.nextId = 1;
    this.exited = null;
    this.child = spawn(command[0], command.slice(1), {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    this.child.on('error', (e) => { this.exited = `spawn error: ${e.message}`; this.fail(this.exited); });
    this.child.on('exit', (code, sig) => {
      this.exited = `adapter exited (${code ?? sig})`;
      this.fail(this.exited);
    });
    this.child.stdin.on('error', () => {});
    this.child.stderr.on('data', (b) => { this.stderrText = (this.stderrText + b.toString()).slice(-20000); });
    this.rl = createInterface({ input: this.child.stdout });
    this.rl.on('line', (line) => this.onLine(line));
  }

  fail(msg) {
    if (this.pending) { const p = this.pending; this.pending = null; p.reject(new Error(msg)); }
  }

  onLine(line) {
    if (!line.trim()) return;
    let msg;
    try { msg = JSON.parse(line); } catch {
      this.fail(`adapter wrote a non-JSON line: ${line.slice(0, 300)}`);
      return;
    }
    if (!this.pending) return;
    if (msg.id !== this.pending.id) {
      this.fail(`adapter answered id ${msg.id}, expected ${this.pending.id}`);
      return;
    }
    const p = this.pending;
    this.pending = null;
    p.resolve(msg);
  }

  /** Sends one request; resolves with the response ({ok} or {error}). */
  request(op, args, timeoutMs) {
    if (this.exited) return Promise.reject(new Error(this.exited));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(`no answer from the adapter within ${timeoutMs} ms`), timeoutMs);
      this.pending = {
        id,
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      this.child.stdin.write(`${JSON.stringify({ id, op, args: args ?? {} })}\n`);
    });
  }

  async close() {
    try { this.child.stdin.end(); } catch { /* closed */ }
    if (this.child.exitCode === null && this.child.signalCode === null) {
      await new Promise((resolve) => {
        const t = setTimeout(resolve, 1500);
        this.child.once('exit', () => { clearTimeout(t); resolve(); });
      });
    }
    await killTree(this.child);
  }
}
