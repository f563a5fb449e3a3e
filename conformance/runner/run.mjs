#!/usr/bin/env node
// Conformance runner: node conformance/runner/run.mjs --sdk ts|rs [--envd PATH] [--only GLOB]
//   [--verbose] [--jobs N] [--adapter "CMD ARGS"] [--check]
// See conformance/README.md and conformance/PROTOCOL.md.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  HOST_OPS, getPath, listCases, loadCase, readKnownFailing, selected, substitute, validateCase,
} from './lib/cases.mjs';
import { match } from './lib/match.mjs';
import { HostError, ensureUser, hostOp } from './lib/host.mjs';
import { Adapter, killTree, startEnvd } from './lib/procs.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const CONF = resolve(HERE, '..');
const ROOT = resolve(CONF, '..');
const DEFAULT_STEP_TIMEOUT_MS = 30000;
/** Children (envd, adapters) alive right now, killed on SIGINT/SIGTERM. */
const LIVE = new Set();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    Promise.all([...LIVE].map((c) => killTree(c))).finally(() => process.exit(130));
  });
}

function usage(msg) {
  if (msg) process.stderr.write(`run.mjs: ${msg}\n`);
  process.stderr.write('usage: node conformance/runner/run.mjs --sdk ts|rs|ref [--envd PATH] [--only GLOB[,GLOB]] [--verbose] [--jobs N] [--adapter CMD] [--check] [--cases DIR] [--known-failing FILE]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { cases: null, knownFailing: null, sdk: null, envd: process.env.ENVD_BIN || join(ROOT, 'target/debug/envd'), only: null, verbose: false, jobs: 2, adapter: process.env.CONFORMANCE_ADAPTER ?? null, check: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) usage(`${flag} needs a value`);
      i += 1;
      return argv[i];
    };
    switch (flag) {
      case '--sdk': o.sdk = value(); break;
      case '--envd': o.envd = value(); break;
      case '--only': o.only = value(); break;
      case '--jobs': o.jobs = Math.max(1, Number(value()) || 1); break;
      case '--adapter': o.adapter = value(); break;
      case '--verbose': case '-v': o.verbose = true; break;
      case '--check': o.check = true; break;
      case '--cases': o.cases = resolve(value()); break;
      case '--known-failing': o.knownFailing = resolve(value()); break;
      case '--help': case '-h': usage(); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!o.check && !['ts', 'rs', 'ref'].includes(o.sdk)) usage('--sdk ts|rs|ref is required');
  return o;
}

/** The adapter command for an SDK. A `// conformance-adapter-command: …` (or `# …`) line near the top of the adapter overrides the default. */
function adapterCommand(sdk, override) {
  if (override) return override.split(' ').filter(Boolean);
  if (sdk === 'ref') return ['node', join(HERE, 'ref-adapter.mjs')];
  if (sdk === 'ts') {
    for (const f of ['adapter.mjs', 'adapter.ts', 'adapter.js']) {
      const p = join(CONF, 'adapters/ts', f);
      if (!existsSync(p)) continue;
      const head = readFileSync(p, 'utf8').split('\n').slice(0, 20).join('\n');
      const m = /conformance-adapter-command:\s*(.+)/.exec(head);
      if (m) return m[1].trim().split(' ').filter(Boolean).map((w) => (w.startsWith('conformance/') ? join(ROOT, w) : w));
      if (f === 'adapter.ts') return [join(ROOT, 'node_modules/.bin/tsx'), p];
      return ['node', p];
    }
    return ['node', join(CONF, 'adapters/ts/adapter.mjs')];
  }
  const target = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(ROOT, 'target');
  return [join(target, 'debug/envd-conformance-adapter-rs')];
}

function show(v) {
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 400 ? `${s.slice(0, 400)}…` : s;
}

/** Per-step wait: an explicit args.timeoutMs gets 15 s of slack on top. */
function stepTimeout(args) {
  const t = Number(args?.timeoutMs);
  return Number.isFinite(t) && t > 0 ? Math.max(DEFAULT_STEP_TIMEOUT_MS, t + 15000) : DEFAULT_STEP_TIMEOUT_MS;
}

async function runCase(c, opts, ctxBase) {
  const doc = c.doc;
  const needs = doc.needs ?? [];
  const log = [];
  const scratch = mkdtempSync(join(tmpdir(), 'envd-conf-'));
  chmodSync(scratch, 0o777);
  const stateDir = mkdtempSync(join(tmpdir(), 'envd-conf-state-'));
  writeFileSync(join(stateDir, 'hosts'), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n');
  let envd = null;
  let adapter = null;
  const proxies = [];
  const started = Date.now();
  try {
    try {
      envd = await startEnvd(opts.envd, stateDir, doc.envdArgs ?? []);
      LIVE.add(envd.child);
    } catch (e) {
      return { ok: false, detail: `setup: ${e.message}`, log };
    }
    const vars = { scratch, url: envd.url, envdVersion: ctxBase.envdVersion, envdState: stateDir };
    if (needs.includes('user')) {
      vars.user = ctxBase.user.name;
      vars.userHome = ctxBase.user.home;
    }
    const ctx = { vars, envdPort: envd.port, proxies };
    /** Background host steps by name: promises of their responses, taken by host.join. */
    const background = new Map();
    const runHost = async (op, args) => {
      try {
        return { ok: await hostOp(op, args, ctx) };
      } catch (e) {
        if (!(e instanceof HostError)) throw e;
        return { error: { code: 'host_error', message: e.message } };
      }
    };
    const hasAdapterStep = doc.steps.some((s) => !HOST_OPS.has(s.op));
    if (hasAdapterStep) {
      adapter = new Adapter(opts.adapterCmd, { ENVD_URL: envd.url });
      LIVE.add(adapter.child);
    }
    for (let i = 0; i < doc.steps.length; i++) {
      const step = doc.steps[i];
      const n = i + 1;
      let args;
      let expect;
      try {
        args = substitute(step.args ?? {}, vars);
        expect = step.expect === undefined ? undefined : substitute(step.expect, vars);
      } catch (e) {
        return { ok: false, detail: `step ${n}, ${step.op}: ${e.message}`, log };
      }
      let response;
      const t0 = Date.now();
      if (step.background !== undefined) {
        const pending = runHost(step.op, args);
        pending.catch(() => {});
        background.set(step.background, pending);
        log.push(`  step ${n} ${step.op} ${show(args)} -> started in the background as ${step.background}`);
        continue;
      } else if (step.op === 'host.join') {
        const pending = background.get(args.name);
        background.delete(args.name);
        response = pending ? await pending : { error: { code: 'host_error', message: `no background step ${args.name}` } };
      } else if (HOST_OPS.has(step.op)) {
        response = await runHost(step.op, args);
      } else {
        try {
          response = await adapter.request(step.op, args, stepTimeout(args));
        } catch (e) {
          return { ok: false, detail: `step ${n}, ${step.op}: ${e.message}`, log, adapterStderr: adapter.stderrText, envdStderr: envd.stderr() };
        }
      }
      log.push(`  step ${n} ${step.op} ${show(args)} -> ${show(response.ok !== undefined ? { ok: response.ok } : { error: response.error })} (${Date.now() - t0} ms)`);
      const res = checkStep(step, expect, response);
      if (res) {
        return { ok: false, detail: `step ${n}, ${step.op}: ${res}`, log, adapterStderr: adapter?.stderrText, envdStderr: envd.stderr() };
      }
      for (const [name, path] of Object.entries(step.save ?? {})) {
        const v = getPath(response.ok, path);
        if (v === undefined) return { ok: false, detail: `step ${n}, ${step.op}: save ${name}: no ${path} in result ${show(response.ok)}`, log };
        vars[name] = v;
      }
    }
    return { ok: true, log, ms: Date.now() - started };
  } finally {
    for (const p of proxies) p.close();
    if (adapter) { await adapter.close(); LIVE.delete(adapter.child); }
    if (envd) { await killTree(envd.child); LIVE.delete(envd.child); }
    rmSync(scratch, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** null when the response satisfies the step's expectation, else a description. */
function checkStep(step, expect, response) {
  const hasOk = response && Object.hasOwn(response, 'ok');
  const hasErr = response && Object.hasOwn(response, 'error');
  if (!hasOk && !hasErr) return `malformed response ${show(response)}`;
  if (expect === undefined || Object.hasOwn(expect, 'ok')) {
    if (hasErr) return `expected success${expect ? ` ${show(expect.ok)}` : ''}, got error ${show(response.error)}`;
    if (expect === undefined || expect.ok === null || (typeof expect.ok === 'object' && !Array.isArray(expect.ok) && Object.keys(expect.ok).length === 0)) return null;
    const m = match(expect.ok, response.ok);
    return m ? `${m} (result ${show(response.ok)})` : null;
  }
  if (hasOk) return `expected error ${show(expect.error)}, got ok ${show(response.ok)}`;
  const m = match(expect.error ?? {}, response.error ?? {});
  return m ? `${m} (error ${show(response.error)})` : null;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const casesDir = opts.cases ?? join(CONF, 'cases');
  let cases = listCases(casesDir).filter((c) => selected(c.name, opts.only));
  const loadProblems = [];
  cases = cases.map((c) => {
    try { return loadCase(c); } catch (e) { loadProblems.push(`${c.name}: YAML: ${e.message}`); return null; }
  }).filter(Boolean);
  for (const c of cases) for (const p of validateCase(c)) loadProblems.push(`${c.name}: ${p}`);
  if (opts.check) {
    for (const p of loadProblems) process.stdout.write(`INVALID ${p}\n`);
    const areas = {};
    for (const c of cases) { const a = c.name.split('/')[0]; areas[a] = (areas[a] ?? 0) + 1; }
    process.stdout.write(`${cases.length} cases (${Object.entries(areas).map(([a, k]) => `${a} ${k}`).join(', ')}), ${loadProblems.length} problems\n`);
    process.exit(loadProblems.length ? 1 : 0);
  }
  if (loadProblems.length) {
    for (const p of loadProblems) process.stdout.write(`INVALID ${p}\n`);
    process.stdout.write('refusing to run: fix the case files (see --check)\n');
    process.exit(1);
  }
  if (cases.length === 0) { process.stdout.write('no cases selected\n'); process.exit(1); }
  if (!existsSync(opts.envd)) { process.stderr.write(`envd binary not found: ${opts.envd} (cargo build --bin envd, or --envd)\n`); process.exit(2); }
  opts.adapterCmd = adapterCommand(opts.sdk, opts.adapter);
  if (!existsSync(opts.adapterCmd[0]) && opts.adapterCmd[0] !== 'node') {
    const hint = opts.sdk === 'rs' ? ' (cargo build -p envd-conformance-adapter-rs)' : '';
    process.stderr.write(`adapter not found: ${opts.adapterCmd[0]}${hint}\n`);
    process.exit(2);
  }
  const known = readKnownFailing(opts.knownFailing ?? join(CONF, 'known_failing', `${opts.sdk}.txt`));
  const ctxBase = { envdVersion: envdVersion(opts.envd) };
  if (cases.some((c) => (c.doc.needs ?? []).includes('user'))) ctxBase.user = ensureUser('envd-conf');

  const results = new Array(cases.length);
  let printed = 0;
  const counts = { passed: 0, failed: 0, xfailed: 0 };
  const flush = () => {
    while (printed < cases.length && results[printed]) {
      const c = cases[printed];
      const r = results[printed];
      const listed = known.has(c.name);
      let line;
      if (r.ok && !listed) { counts.passed++; line = `PASS ${c.name}${opts.verbose ? ` (${r.ms} ms)` : ''}`; }
      else if (r.ok && listed) { counts.failed++; line = `FAIL ${c.name}: passed but is listed in known_failing/${opts.sdk}.txt (remove it)`; }
      else if (listed) { counts.xfailed++; line = `XFAIL ${c.name}: ${r.detail}`; }
      else { counts.failed++; line = `FAIL ${c.name}: ${r.detail}`; }
      process.stdout.write(`${line}\n`);
      if (opts.verbose || (!r.ok && !listed)) {
        if (opts.verbose) for (const l of r.log ?? []) process.stdout.write(`${l}\n`);
        if (!r.ok && r.adapterStderr) process.stdout.write(`  adapter stderr:\n${indent(r.adapterStderr)}\n`);
        if (!r.ok && opts.verbose && r.envdStderr) process.stdout.write(`  envd stderr:\n${indent(r.envdStderr)}\n`);
      }
      printed++;
    }
  };
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      try {
        results[i] = await runCase(cases[i], opts, ctxBase);
      } catch (e) {
        results[i] = { ok: false, detail: `runner error: ${e.stack ?? e.message}` };
      }
      flush();
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.jobs, cases.length) }, worker));
  flush();
  for (const name of known) {
    if (!cases.some((c) => c.name === name) && !opts.only) process.stdout.write(`note: known_failing/${opts.sdk}.txt lists ${name}, which is not a case\n`);
  }
  process.stdout.write(`${counts.passed} passed, ${counts.failed} failed, ${counts.xfailed} xfailed\n`);
  process.exit(counts.failed > 0 ? 1 : 0);
}

/** `envd --version`, trimmed ("" if it cannot be run). */
function envdVersion(bin) {
  try {
    return execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 10000 }).trim();
  } catch {
    return '';
  }
}

function indent(text) {
  return text.trimEnd().split('\n').slice(-40).map((l) => `    ${l}`).join('\n');
}

main().catch((e) => { process.stderr.write(`${e.stack ?? e}\n`); process.exit(2); });
