// Loading, validating and substituting case files (conformance/PROTOCOL.md).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { isMatcher, knownMatcher } from './match.mjs';

/** Ops the adapter performs (PROTOCOL.md tables). */
export const ADAPTER_OPS = new Set([
  'client.configure', 'health', 'metrics', 'envs', 'init', 'snapshot.prepare',
  'commands.run', 'commands.spawn', 'commands.connect', 'commands.list', 'commands.send_stdin',
  'commands.close_stdin', 'commands.signal', 'commands.kill',
  'handle.wait', 'handle.read_until', 'handle.send_stdin', 'handle.close_stdin', 'handle.kill',
  'handle.disconnect',
  'pty.create', 'pty.write', 'pty.resize', 'pty.read_until', 'pty.kill', 'pty.wait',
  'files.read', 'files.write', 'files.write_many', 'files.list', 'files.stat', 'files.exists',
  'files.make_dir', 'files.rename', 'files.remove', 'files.watch', 'watch.events', 'watch.stop',
  'files.download_url', 'files.upload_url', 'files.compose',
  'terminal.create', 'terminal.attach', 'terminal.write', 'terminal.resize', 'terminal.signal',
  'terminal.read_until', 'terminal.drop_stream', 'terminal.wait', 'terminal.close', 'terminal.list',
  'terminal.send_raw', 'terminal.attach_raw',
]);

/** Ops the runner performs itself. */
export const HOST_OPS = new Set([
  'host.write_file', 'host.read_file', 'host.exists', 'host.mkdir', 'host.symlink', 'host.sleep',
  'host.http', 'host.pid_alive', 'host.stall_proxy', 'host.stall_proxy_freeze', 'host.url_edit',
  'host.join',
]);

/** Host ops a step may run in the background (`background: name`, answered by `host.join`). */
export const BACKGROUND_OPS = new Set(['host.http']);

/** envd flags a case may add with `envdArgs` (each takes one value). */
export const ENVD_FLAGS = new Set(['--scrollback-bytes']);

export const NEEDS = new Set(['user']);

const STEP_KEYS = new Set(['op', 'args', 'expect', 'save', 'note', 'background']);
const CASE_KEYS = new Set(['description', 'spec', 'needs', 'steps', 'envdArgs']);

/** Recursively lists `*.yaml` under `dir`, sorted, as [{name, file}]. */
export function listCases(dir) {
  const out = [];
  const walk = (d) => {
    for (const ent of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (ent.name.endsWith('.yaml')) out.push({ name: relative(dir, p).slice(0, -5), file: p });
    }
  };
  walk(dir);
  out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}

export function loadCase(entry) {
  const doc = parse(readFileSync(entry.file, 'utf8'));
  return { ...entry, doc };
}

/** Converts a glob (`*` within a segment, `**` across, `?`) to a RegExp over case names. */
export function globToRegExp(glob) {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') { re += '.*'; i++; } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Whether a case name is selected by an `--only` value (comma-separated globs; a bare area selects it). */
export function selected(name, only) {
  if (!only) return true;
  return only.split(',').some((g) => {
    const glob = g.trim();
    if (!glob) return false;
    if (!/[*?]/.test(glob)) return name === glob || name.startsWith(`${glob.replace(/\/$/, '')}/`);
    return globToRegExp(glob).test(name);
  });
}

const PATH_ARGS = {
  'files.remove': ['path'],
  'files.rename': ['from', 'to'],
  'files.write': ['path'],
  'files.make_dir': ['path'],
  'files.compose': ['destination'],
  'host.write_file': ['path'],
  'host.mkdir': ['path'],
  'host.symlink': ['path'],
};

/**
 * The safety rule: every path a case creates, moves or removes starts with
 * `${scratch}` (or `${userHome}/` for user cases). Returns a list of problems.
 */
export function safetyProblems(step, needs) {
  const problems = [];
  const check = (label, p) => {
    const ok = typeof p === 'string' && (p === '${scratch}' || p.startsWith('${scratch}/')
      || (needs.includes('user') && p.startsWith('${userHome}/') && p.length > '${userHome}/'.length));
    if (!ok) problems.push(`${step.op} ${label} ${JSON.stringify(p)} is not under \${scratch}`);
  };
  for (const key of PATH_ARGS[step.op] ?? []) check(key, step.args?.[key]);
  if (step.op === 'files.write_many') {
    for (const f of step.args?.files ?? []) check('files[].path', f?.path);
  }
  // Compose deletes its sources.
  if (step.op === 'files.compose') {
    for (const p of step.args?.sources ?? []) check('sources[]', p);
  }
  if (step.op === 'files.remove' && step.args?.path === '${scratch}') {
    problems.push('files.remove of ${scratch} itself');
  }
  return problems;
}

function checkMatchers(v, where, problems) {
  if (Array.isArray(v)) v.forEach((x, i) => checkMatchers(x, `${where}[${i}]`, problems));
  else if (v !== null && typeof v === 'object') {
    if (isMatcher(v)) {
      const [k, arg] = Object.entries(v)[0];
      if (!knownMatcher(k)) problems.push(`${where}: unknown matcher ${k}`);
      checkMatchers(arg, `${where}.${k}`, problems);
    } else {
      for (const [k, x] of Object.entries(v)) {
        if (k.startsWith('$')) problems.push(`${where}: matcher key ${k} mixed with other keys`);
        checkMatchers(x, `${where}.${k}`, problems);
      }
    }
  }
}

/** Static validation of one loaded case; returns a list of problems (empty = valid). */
export function validateCase(c) {
  const problems = [];
  const d = c.doc;
  if (!/^[a-z0-9-]+\/[a-z0-9-]+$/.test(c.name)) problems.push(`case name ${c.name} is not area/behaviour (lowercase, dashes)`);
  if (d === null || typeof d !== 'object' || Array.isArray(d)) return [...problems, 'not a YAML mapping'];
  for (const k of Object.keys(d)) if (!CASE_KEYS.has(k)) problems.push(`unknown key ${k}`);
  if (typeof d.description !== 'string' || !d.description.trim()) problems.push('missing description');
  if (typeof d.spec !== 'string' || !/§/.test(d.spec)) problems.push('spec must cite a section (§…)');
  const needs = d.needs ?? [];
  if (!Array.isArray(needs)) problems.push('needs must be a list');
  else for (const n of needs) if (!NEEDS.has(n)) problems.push(`unknown need ${n}`);
  if (d.envdArgs !== undefined) {
    const a = d.envdArgs;
    if (!Array.isArray(a) || a.length % 2 !== 0 || a.some((x) => typeof x !== 'string')) {
      problems.push('envdArgs must be a list of strings: flag, value, flag, value, …');
    } else {
      for (let i = 0; i < a.length; i += 2) if (!ENVD_FLAGS.has(a[i])) problems.push(`envdArgs: ${a[i]} is not an allowed envd flag`);
    }
  }
  if (!Array.isArray(d.steps) || d.steps.length === 0) return [...problems, 'steps must be a non-empty list'];
  const background = new Set();
  const saved = new Set(['scratch', 'url', 'envdVersion', 'envdState']);
  if (Array.isArray(needs) && needs.includes('user')) { saved.add('user'); saved.add('userHome'); }
  d.steps.forEach((s, i) => {
    const at = `step ${i + 1}`;
    if (s === null || typeof s !== 'object') { problems.push(`${at}: not a mapping`); return; }
    for (const k of Object.keys(s)) if (!STEP_KEYS.has(k)) problems.push(`${at}: unknown key ${k}`);
    if (!ADAPTER_OPS.has(s.op) && !HOST_OPS.has(s.op)) problems.push(`${at}: unknown op ${s.op}`);
    if (s.background !== undefined) {
      if (!BACKGROUND_OPS.has(s.op)) problems.push(`${at}: background is only for ${[...BACKGROUND_OPS].join(', ')}`);
      if (typeof s.background !== 'string' || background.has(s.background)) problems.push(`${at}: background must be a new name`);
      if (s.expect !== undefined || s.save !== undefined) problems.push(`${at}: a background step's answer is checked by its host.join`);
      background.add(s.background);
    }
    if (s.op === 'host.join' && !background.has(s.args?.name)) problems.push(`${at}: host.join of ${s.args?.name}, which no earlier step started`);
    if (s.args !== undefined && (s.args === null || typeof s.args !== 'object' || Array.isArray(s.args))) {
      problems.push(`${at}: args must be a mapping`);
    }
    if (s.expect !== undefined) {
      const e = s.expect;
      const keys = e && typeof e === 'object' ? Object.keys(e) : [];
      if (keys.length !== 1 || !['ok', 'error'].includes(keys[0])) problems.push(`${at}: expect must be {ok: …} or {error: …}`);
      checkMatchers(e, `${at}.expect`, problems);
    }
    for (const p of safetyProblems(s, Array.isArray(needs) ? needs : [])) problems.push(`${at}: SAFETY: ${p}`);
    for (const ref of refs({ args: s.args, expect: s.expect })) {
      if (!saved.has(ref)) problems.push(`${at}: \${${ref}} used before it is saved`);
    }
    if (s.save !== undefined) {
      if (s.save === null || typeof s.save !== 'object') problems.push(`${at}: save must be a mapping`);
      else for (const k of Object.keys(s.save)) saved.add(k);
    }
  });
  return problems;
}

function refs(v, out = new Set()) {
  if (typeof v === 'string') for (const m of v.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)) out.add(m[1]);
  else if (Array.isArray(v)) v.forEach((x) => refs(x, out));
  else if (v !== null && typeof v === 'object') Object.values(v).forEach((x) => refs(x, out));
  return out;
}

/** Substitutes `${name}` recursively; a string that is exactly `${name}` keeps the value's type. */
export function substitute(v, vars) {
  if (typeof v === 'string') {
    const whole = /^\$\{([A-Za-z0-9_]+)\}$/.exec(v);
    if (whole) {
      if (!(whole[1] in vars)) throw new Error(`\${${whole[1]}} is not defined`);
      return vars[whole[1]];
    }
    return v.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_, n) => {
      if (!(n in vars)) throw new Error(`\${${n}} is not defined`);
      const val = vars[n];
      return typeof val === 'string' ? val : JSON.stringify(val);
    });
  }
  if (Array.isArray(v)) return v.map((x) => substitute(x, vars));
  if (v !== null && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = substitute(x, vars);
    return out;
  }
  return v;
}

/** Reads `path.in.result` (dot-separated, numeric segments index arrays). */
export function getPath(obj, path) {
  let cur = obj;
  for (const seg of String(path).split('.')) {
    if (cur === null || cur === undefined) return undefined;
    cur = cur[seg];
  }
  return cur;
}

/** Reads a known-failing list: case names, `#` comments and blank lines ignored. */
export function readKnownFailing(file) {
  let text = '';
  try { text = readFileSync(file, 'utf8'); } catch { return new Set(); }
  return new Set(text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean));
}
