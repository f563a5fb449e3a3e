#!/usr/bin/env node
// Self-test of the runner's pieces that do not need an adapter: the matcher,
// substitution, globbing, the safety rule, case validation, host ops (files,
// HTTP, stall proxy) and envd start/stop. Run: node conformance/runner/selftest.mjs
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getPath, globToRegExp, safetyProblems, selected, substitute, validateCase } from './lib/cases.mjs';
import { match } from './lib/match.mjs';
import { HostError, hostOp } from './lib/host.mjs';
import { descendants, killTree, startEnvd } from './lib/procs.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let failures = 0;
let count = 0;
async function test(name, fn) {
  count++;
  try {
    await fn();
    process.stdout.write(`ok   ${name}\n`);
  } catch (e) {
    failures++;
    process.stdout.write(`FAIL ${name}: ${e.stack}\n`);
  }
}
const ok = (expected, actual) => assert.equal(match(expected, actual), null, `expected match: ${JSON.stringify(expected)} vs ${JSON.stringify(actual)}`);
const no = (expected, actual) => assert.notEqual(match(expected, actual), null, `expected mismatch: ${JSON.stringify(expected)} vs ${JSON.stringify(actual)}`);

await test('scalars', () => {
  ok(3, 3); ok(3, '3'); no(3, 4); ok('a', 'a'); no('a', 'b'); ok(true, true); no(true, 'true'); ok(-1, -1);
  no('3', 3); ok(null, undefined); ok(null, null); no(null, 0);
});
await test('objects ignore extra keys, arrays are exact', () => {
  ok({ a: 1 }, { a: 1, b: 2 }); no({ a: 1, c: 1 }, { a: 1 }); ok({}, { x: 1 }); no({ a: 1 }, null);
  ok([1, 2], [1, 2]); no([1, 2], [1, 2, 3]); no([1], 'x'); ok([], []); ok([{ n: 'a' }], [{ n: 'a', t: 1 }]);
  ok({ a: { b: [{ c: 'd' }] } }, { a: { b: [{ c: 'd', e: 1 }] } });
});
await test('matchers', () => {
  ok({ $regex: '^ab' }, 'abc'); no({ $regex: '^ab' }, 'cab'); no({ $regex: 'x' }, 5);
  ok({ $contains: 'b' }, 'abc'); no({ $contains: 'z' }, 'abc');
  ok({ $contains: { name: 'x' } }, [{ name: 'y' }, { name: 'x', type: 'f' }]); no({ $contains: { name: 'q' } }, [{ name: 'y' }]);
  ok({ $contains: 2 }, [1, 2]); no({ $contains: 'a' }, 7);
  ok({ k: { $absent: true } }, {}); ok({ k: { $absent: true } }, { k: null }); no({ k: { $absent: true } }, { k: 0 });
  ok({ $gte: 2 }, 2); ok({ $gte: 2 }, '3'); no({ $gte: 2 }, 1); no({ $gte: 2 }, 'x'); ok({ $lte: 2 }, 2); no({ $lte: 2 }, 3);
  ok({ $len: 2 }, [1, 2]); ok({ $len: 3 }, 'abc'); no({ $len: 1 }, []); ok({ $len: { $gte: 1 } }, [1]); no({ $len: 1 }, 5);
  ok({ k: { $any: true } }, { k: 0 }); no({ k: { $any: true } }, {});
  ok({ $oneOf: ['a', 'b'] }, 'b'); no({ $oneOf: ['a', 'b'] }, 'c');
  ok({ $not: { $contains: 'x' } }, 'abc'); no({ $not: { $contains: 'a' } }, 'abc');
  no({ $bogus: 1 }, 1);
  assert.match(match({ a: [{ b: 1 }] }, { a: [{ b: 2 }] }), /\$\.a\[0\]\.b/);
});
await test('substitution keeps types for whole-string references', () => {
  const vars = { pid: 42, s: '/tmp/x', o: { a: 1 } };
  assert.deepEqual(substitute({ p: '${pid}', q: '${s}/f', r: ['${o}'], n: 3, t: 'pid=${pid}' }, vars), { p: 42, q: '/tmp/x/f', r: [{ a: 1 }], n: 3, t: 'pid=42' });
  assert.throws(() => substitute('${nope}', vars), /not defined/);
  assert.equal(getPath({ a: { b: [5, 6] } }, 'a.b.1'), 6);
});
await test('globs and --only', () => {
  assert.ok(globToRegExp('commands/*').test('commands/run-echo'));
  assert.ok(!globToRegExp('commands/*').test('files/x'));
  assert.ok(globToRegExp('**/*stdin*').test('commands/stdin-run'));
  assert.ok(selected('files/stat-file', 'files'));
  assert.ok(selected('files/stat-file', 'commands/*,files/stat-*'));
  assert.ok(!selected('files/stat-file', 'files/stat'));
  assert.ok(selected('files/stat', 'files/stat'));
});
await test('safety rule', () => {
  const bad = (op, args, needs = []) => assert.ok(safetyProblems({ op, args }, needs).length > 0, `${op} ${JSON.stringify(args)} should be refused`);
  const good = (op, args, needs = []) => assert.deepEqual(safetyProblems({ op, args }, needs), []);
  bad('files.remove', { path: '' }); bad('files.remove', { path: '/root' }); bad('files.remove', { path: '~' });
  bad('files.remove', { path: 'relative' }); bad('files.remove', { path: '${scratch}' }); bad('files.remove', {});
  bad('files.remove', { path: '${scratchy}/x' }); bad('files.remove', { path: '${userHome}' }, ['user']);
  bad('files.remove', { path: '${userHome}/x' }); bad('files.rename', { from: '${scratch}/a', to: '/tmp/b' });
  bad('files.write', { path: '/etc/passwd' }); bad('files.write_many', { files: [{ path: '${scratch}/a' }, { path: '/b' }] });
  bad('files.compose', { sources: ['/etc/passwd'], destination: '${scratch}/d' });
  bad('files.compose', { sources: ['${scratch}/a'], destination: '/tmp/d' });
  good('files.compose', { sources: ['${scratch}/a'], destination: '${scratch}/d' });
  good('files.remove', { path: '${scratch}/x' }); good('files.remove', { path: '${userHome}/x' }, ['user']);
  good('files.rename', { from: '${scratch}/a', to: '${scratch}/b' }); good('files.stat', { path: '/' });
});
await test('case validation', () => {
  const v = (doc, name = 'area/name') => validateCase({ name, doc });
  assert.deepEqual(v({ description: 'd', spec: '§1', steps: [{ op: 'health' }] }), []);
  assert.ok(v({ description: 'd', spec: '§1', steps: [{ op: 'nope' }] }).some((p) => /unknown op/.test(p)));
  assert.ok(v({ description: 'd', spec: '1', steps: [{ op: 'health' }] }).some((p) => /spec/.test(p)));
  assert.ok(v({ description: 'd', spec: '§1', steps: [{ op: 'health', expect: { ok: {}, error: {} } }] }).length > 0);
  assert.ok(v({ description: 'd', spec: '§1', steps: [{ op: 'files.stat', args: { path: '${x}' } }] }).some((p) => /before it is saved/.test(p)));
  assert.ok(v({ description: 'd', spec: '§1', steps: [{ op: 'files.remove', args: { path: '/' } }] }).some((p) => /SAFETY/.test(p)));
  assert.ok(v({ description: 'd', spec: '§1', steps: [{ op: 'health', expect: { ok: { a: { $nope: 1 } } } }] }).some((p) => /unknown matcher/.test(p)));
  assert.ok(v({ description: 'd', spec: '§1', steps: [{ op: 'health' }] }, 'Bad Name').length > 0);
});

const scratch = mkdtempSync(join(tmpdir(), 'envd-conf-selftest-'));
chmodSync(scratch, 0o777);
const ctx = { vars: { scratch, url: 'http://127.0.0.1:9' }, proxies: [] };
await test('host file ops stay in scratch', async () => {
  await hostOp('host.write_file', { path: `${scratch}/d/f.txt`, text: 'hi', mode: '0640' }, ctx);
  const r = await hostOp('host.read_file', { path: `${scratch}/d/f.txt` }, ctx);
  assert.equal(r.text, 'hi'); assert.equal(r.mode, '0640'); assert.equal(r.uid, process.getuid()); assert.equal(r.type, 'file');
  assert.equal(r.owner, 'root');
  assert.deepEqual(await hostOp('host.exists', { path: `${scratch}/d/f.txt` }, ctx), { exists: true });
  assert.deepEqual(await hostOp('host.exists', { path: `${scratch}/nope` }, ctx), { exists: false });
  await hostOp('host.mkdir', { path: `${scratch}/m/n` }, ctx);
  await hostOp('host.symlink', { target: 'f.txt', path: `${scratch}/d/l` }, ctx);
  assert.deepEqual(await hostOp('host.exists', { path: `${scratch}/d/l` }, ctx), { exists: true });
  for (const p of ['/etc/x', '', 'rel', scratch, `${scratch}x/y`]) {
    await assert.rejects(hostOp('host.write_file', { path: p, text: '' }, ctx), HostError);
  }
  await assert.rejects(hostOp('host.http', { url: 'http://example.com/' }, ctx), /non-loopback/);
  const u = await hostOp('host.url_edit', { url: '/files?path=/a&signature=s', set: { signature: 'x+y' }, delete: ['path'] }, ctx);
  assert.equal(u.url, 'http://127.0.0.1:9/files?signature=x%2By');
  assert.deepEqual(await hostOp('host.pid_alive', { pid: process.pid }, ctx), { alive: true });
  assert.deepEqual(await hostOp('host.pid_alive', { pid: 2 ** 22 + 12345 }, ctx), { alive: false });
});

const envdBin = process.env.ENVD_BIN || join(ROOT, 'target/debug/envd');
if (existsSync(envdBin)) {
  await test('envd start, host.http, stall proxy, kill', async () => {
    const state = mkdtempSync(join(tmpdir(), 'envd-conf-selftest-state-'));
    const envd = await startEnvd(envdBin, state);
    try {
      const c = { vars: { scratch, url: envd.url }, envdPort: envd.port, proxies: [] };
      const h = await hostOp('host.http', { method: 'GET', url: '/health' }, c);
      assert.equal(h.status, 200); assert.ok(h.json.version);
      const { url } = await hostOp('host.stall_proxy', {}, c);
      const viaProxy = await hostOp('host.http', { method: 'GET', url: `${url}/health` }, c);
      assert.equal(viaProxy.status, 200);
      // A raw keep-alive connection: answers before the freeze, silence after.
      const port = Number(new URL(url).port);
      const sock = connect(port, '127.0.0.1');
      let got = '';
      sock.on('data', (b) => { got += b.toString(); });
      await new Promise((r) => { sock.once('connect', r); });
      sock.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((r) => { setTimeout(r, 300); });
      assert.match(got, /200 OK/);
      await hostOp('host.stall_proxy_freeze', {}, c);
      got = '';
      sock.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((r) => { setTimeout(r, 500); });
      assert.equal(got, '', 'frozen proxy forwarded data');
      assert.ok(!sock.destroyed, 'frozen proxy closed the connection');
      await assert.rejects(hostOp('host.http', { method: 'GET', url: `${url}/health`, timeoutMs: 500 }, c), HostError);
      sock.destroy();
      for (const p of c.proxies) p.close();
      // A process envd starts is a descendant and dies with killTree.
      const res = await fetch(`${envd.url}/process.Process/Start`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/connect+json' },
        body: (() => { const j = Buffer.from(JSON.stringify({ process: { cmd: 'sleep', args: ['30'] }, stdin: false })); const b = Buffer.alloc(5 + j.length); b.writeUInt32BE(j.length, 1); j.copy(b, 5); return b; })(),
      });
      const reader = res.body.getReader();
      await reader.read();
      await new Promise((r) => { setTimeout(r, 200); });
      assert.ok(descendants(envd.child.pid).length >= 1, 'sleep is a descendant of envd');
      const kids = descendants(envd.child.pid);
      await killTree(envd.child);
      for (const k of kids) assert.equal((await hostOp('host.pid_alive', { pid: k }, c)).alive, false, `pid ${k} survived`);
    } finally {
      await killTree(envd.child);
      rmSync(state, { recursive: true, force: true });
    }
  });
  await test('runner end to end: PASS/FAIL/XFAIL lines, order, summary, exit status', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'envd-conf-selftest-run-'));
    try {
      const cases = join(dir, 'cases');
      const write = (name, text) => { mkdirSync(dirname(join(cases, name)), { recursive: true }); writeFileSync(join(cases, name), text); };
      write('a/pass.yaml', 'description: d\nspec: "§1"\nsteps:\n  - op: health\n    expect:\n      ok: { version: stub }\n  - op: host.http\n    args: { method: GET, url: /health }\n    expect:\n      ok: { status: 200 }\n');
      write('a/fail.yaml', 'description: d\nspec: "§1"\nsteps:\n  - op: health\n    expect:\n      ok: { version: other }\n');
      write('b/xfail.yaml', 'description: d\nspec: "§1"\nsteps:\n  - op: files.stat\n    args: { path: "${scratch}" }\n    expect:\n      ok: {}\n');
      write('b/listed-pass.yaml', 'description: d\nspec: "§1"\nsteps:\n  - op: health\n    save: { v: version }\n  - op: health\n    expect:\n      ok: { version: "${v}" }\n');
      const stub = join(dir, 'stub.mjs');
      writeFileSync(stub, [
        "import { createInterface } from 'node:readline';",
        "if (!process.env.ENVD_URL) process.exit(3);",
        "createInterface({ input: process.stdin }).on('line', (l) => {",
        "  const r = JSON.parse(l);",
        "  const out = r.op === 'health' ? { id: r.id, ok: { version: 'stub' } } : { id: r.id, error: { code: 'unimplemented', message: `unknown op ${r.op}` } };",
        "  process.stdout.write(`${JSON.stringify(out)}\\n`);",
        "});",
      ].join('\n'));
      const known = join(dir, 'known.txt');
      writeFileSync(known, '# comment\nb/xfail\nb/listed-pass  # trailing comment\n');
      const run = spawnSync('node', [join(ROOT, 'conformance/runner/run.mjs'), '--sdk', 'ts', '--adapter', `node ${stub}`, '--cases', cases, '--known-failing', known, '--envd', envdBin], { encoding: 'utf8', timeout: 60000 });
      const lines = run.stdout.split('\n').filter((l) => /^(PASS|FAIL|XFAIL) /.test(l));
      assert.deepEqual(lines.map((l) => l.split(':')[0]), ['FAIL a/fail', 'PASS a/pass', 'FAIL b/listed-pass', 'XFAIL b/xfail'], run.stdout);
      assert.match(run.stdout, /FAIL a\/fail: step 1, health: \$\.version: expected "other", got "stub"/);
      assert.match(run.stdout, /passed but is listed/);
      assert.match(run.stdout, /\n1 passed, 2 failed, 1 xfailed\n$/);
      assert.equal(run.status, 1);
      writeFileSync(known, 'b/xfail\n');
      const only = spawnSync('node', [join(ROOT, 'conformance/runner/run.mjs'), '--sdk', 'ts', '--adapter', `node ${stub}`, '--cases', cases, '--known-failing', known, '--envd', envdBin, '--only', 'a/pass,b/*'], { encoding: 'utf8', timeout: 60000 });
      assert.match(only.stdout, /\n2 passed, 0 failed, 1 xfailed\n$/, only.stdout);
      assert.equal(only.status, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
} else {
  process.stdout.write(`skip envd tests: ${envdBin} not built\n`);
}
rmSync(scratch, { recursive: true, force: true });
process.stdout.write(`${count - failures}/${count} self-tests passed\n`);
process.exit(failures ? 1 : 0);
