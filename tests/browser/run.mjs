#!/usr/bin/env node
// Real-browser test for @envd/sdk: the SDK's browser entry, bundled with esbuild, running in
// Debian's headless chromium against a real envd on another origin (so CORS is exercised).
//
//   bash scripts/setup-chromium.sh && node tests/browser/run.mjs
//
// Environment:
//   ENVD_BIN=path            run this envd instead of `cargo build --bin envd` + target/debug/envd
//   CHROMIUM=path            browser binary (default /usr/bin/chromium)
//   BROWSER_TEST_TIMEOUT_MS  overall timeout, not counting the cargo/npm builds (default 240000)
//   BROWSER_SCENARIO_TIMEOUT_MS  per-scenario timeout (default 60000)
//   BROWSER_ONLY=name[,name] run only these scenarios (names as printed, without "browser/")
//   BROWSER_KEEP_TMP=1       keep the temp dir (bundle, envd log) for inspection
//   BROWSER_VERBOSE=1        print the browser console and envd's stderr even when all pass
//   BROWSER_SDK=auto|dist|src|build  how @envd/sdk is bundled (see prepareSdk; default auto)
//   BROWSER_PAGE=file.ts     bundle this page entry instead of tests/browser/page/main.ts (debugging)
//
// Output: `PASS browser/<scenario>` / `FAIL browser/<scenario>: <why>` per scenario, last line
// `N passed, M failed`; exit status 1 on any failure.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HERE = path.join(ROOT, 'tests/browser');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OVERALL_TIMEOUT_MS = Number(process.env.BROWSER_TEST_TIMEOUT_MS || 240_000);
const SCENARIO_TIMEOUT_MS = Number(process.env.BROWSER_SCENARIO_TIMEOUT_MS || 60_000);
const ONLY = (process.env.BROWSER_ONLY || '').split(',').map((s) => s.trim()).filter(Boolean);
const VERBOSE = !!process.env.BROWSER_VERBOSE;
// The page entry; override only to debug (e.g. a probe that uses connect-web directly).
const PAGE_ENTRY = path.resolve(process.env.BROWSER_PAGE || path.join(HERE, 'page/main.ts'));

const log = (...a) => console.error('==', ...a);

// ---- resources to release on every exit path -------------------------------------------------
let tmpDir = null; // the only directory this runner ever writes into or removes
let envdProc = null;
let staticServer = null;
let browser = null;
let cleanedUp = false;

async function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  if (browser) await browser.close().catch(() => {});
  if (staticServer) {
    staticServer.closeAllConnections?.();
    await new Promise((r) => staticServer.close(() => r()));
  }
  if (envdProc && envdProc.exitCode === null && envdProc.signalCode === null) {
    const exited = new Promise((r) => envdProc.once('exit', r));
    envdProc.kill('SIGTERM');
    const t = setTimeout(() => envdProc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
  if (tmpDir && !process.env.BROWSER_KEEP_TMP) await removeTmp();
  else if (tmpDir) log(`kept ${tmpDir}`);
}

async function removeTmp() {
  // Safety: only ever remove the mkdtemp directory this process created.
  const base = path.join(os.tmpdir(), 'envd-browser-');
  if (typeof tmpDir !== 'string' || !path.isAbsolute(tmpDir) || !tmpDir.startsWith(base) || tmpDir.length <= base.length) {
    log(`refusing to remove ${JSON.stringify(tmpDir)}`);
    return;
  }
  await fsp.rm(tmpDir, { recursive: true, force: true }).catch((e) => log(`rm ${tmpDir}: ${e.message}`));
}

// Result lines go to stdout through out(); once a final summary has been printed (overall
// timeout, signal, crash) nothing else is, so the last line stays `N passed, M failed`.
let silenced = false;
function out(line) {
  if (!silenced) process.stdout.write(`${line}\n`);
}
function finalSummary(extraFailed) {
  out(`${results.filter((r) => r.ok).length} passed, ${results.filter((r) => !r.ok).length + extraFailed} failed`);
  silenced = true;
}

// Last resort if the process exits without cleanup() having finished: kill envd, drop tmp.
process.on('exit', () => {
  if (envdProc && envdProc.exitCode === null && envdProc.signalCode === null) {
    try {
      envdProc.kill('SIGKILL');
    } catch {}
  }
  const base = path.join(os.tmpdir(), 'envd-browser-');
  if (!process.env.BROWSER_KEEP_TMP && typeof tmpDir === 'string' && tmpDir.startsWith(base) && tmpDir.length > base.length) {
    try {
      rmSync(tmpDir, { recursive: true, force: true });
    } catch {}
  }
});

let exiting = false;
async function exitWith(code) {
  if (exiting) return;
  exiting = true;
  await cleanup();
  process.exit(code);
}

// The overall deadline starts after the (synchronous) cargo/npm builds: it bounds the test.
let overall = null;
function startOverallTimer() {
  overall = setTimeout(() => {
    out(`FAIL browser/overall-timeout: did not finish within ${OVERALL_TIMEOUT_MS} ms (after the build)`);
    dumpDiagnostics();
    finalSummary(1);
    exitWith(1);
  }, OVERALL_TIMEOUT_MS);
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    out(`FAIL browser/interrupted: got ${sig}`);
    finalSummary(1);
    exitWith(130);
  });
}
process.on('uncaughtException', (e) => {
  out(`FAIL browser/runner: uncaught ${e?.stack || e}`);
  finalSummary(1);
  exitWith(1);
});

// ---- diagnostics -------------------------------------------------------------------------------
const consoleLines = []; // {t, text}
let envdStderr = '';
const results = []; // {name, ok, why}

function consoleSince(mark) {
  return consoleLines.slice(mark).map((l) => `    [browser ${l.kind}] ${l.text}`);
}
function dumpDiagnostics() {
  if (consoleLines.length) {
    out('  browser console:');
    for (const l of consoleSince(0)) out(l);
  }
  if (envdStderr.trim()) {
    out('  envd stderr (last 40 lines):');
    for (const l of envdStderr.trimEnd().split('\n').slice(-40)) out(`    ${l}`);
  }
}

// ---- steps ------------------------------------------------------------------------------------
function buildEnvd() {
  if (process.env.ENVD_BIN) {
    const bin = path.resolve(process.env.ENVD_BIN);
    log(`using ENVD_BIN=${bin}`);
    return bin;
  }
  log('cargo build --bin envd');
  const r = spawnSync('cargo', ['build', '--quiet', '--bin', 'envd'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`cargo build failed (status ${r.status}${r.error ? `, ${r.error.message}` : ''})`);
  const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target');
  return path.join(targetDir, 'debug', 'envd');
}

async function startEnvd(bin) {
  // Scratch state paths, so envd never touches the machine's /run/wrenn, /etc/hosts or page cache.
  const state = path.join(tmpDir, 'state');
  await fsp.mkdir(state);
  await fsp.writeFile(path.join(state, 'hosts'), '127.0.0.1\tlocalhost\n');
  envdProc = spawn(bin, [
    '--addr', '127.0.0.1:0',
    '--run-dir', path.join(state, 'run'),
    '--hosts-file', path.join(state, 'hosts'),
    '--drop-caches', path.join(state, 'drop_caches'),
  ], { cwd: tmpDir, stdio: ['ignore', 'pipe', 'pipe'] });
  envdProc.stderr.setEncoding('utf8');
  envdProc.stderr.on('data', (d) => {
    envdStderr += d;
    if (envdStderr.length > 200_000) envdStderr = envdStderr.slice(-100_000);
  });
  const rl = createInterface({ input: envdProc.stdout });
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('envd did not announce its address within 20 s')), 20_000);
    envdProc.once('error', (e) => { clearTimeout(t); reject(e); });
    envdProc.once('exit', (code, sig) => { clearTimeout(t); reject(new Error(`envd exited early (${code ?? sig}): ${envdStderr.slice(-2000)}`)); });
    rl.once('line', (line) => {
      clearTimeout(t);
      const m = /^envd (\S+) listening on (http:\/\/\S+)$/.exec(line);
      if (!m) reject(new Error(`unexpected first stdout line from envd: ${JSON.stringify(line)}`));
      else resolve(m[2]);
    });
  });
  rl.on('line', () => {}); // keep draining stdout
  return url;
}

// How the page gets @envd/sdk. The package's `browser` export points at `dist/browser.js` (tsc
// output). BROWSER_SDK=dist bundles that (building it first when missing); BROWSER_SDK=src
// bundles sdk-ts/src/browser.ts directly (esbuild compiles the TypeScript); BROWSER_SDK=build
// always runs `npm run build -w sdk-ts` first. Default (auto): dist when it exists and is at
// least as new as every file in sdk-ts/src, else src — so the test never runs stale SDK code
// and never deletes a dist/ another process may be using.
async function newestMtime(dir) {
  let newest = 0;
  for (const e of await fsp.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const st = await fsp.stat(path.join(e.parentPath ?? e.path, e.name));
    newest = Math.max(newest, st.mtimeMs);
  }
  return newest;
}

async function prepareSdk() {
  const pkgDir = path.join(ROOT, 'node_modules/@envd/sdk');
  const pkgJson = path.join(pkgDir, 'package.json');
  if (!existsSync(pkgJson)) throw new Error('node_modules/@envd/sdk is missing (run `npm ci` at the repo root)');
  const pkg = JSON.parse(readFileSync(pkgJson, 'utf8'));
  const srcEntry = path.join(pkgDir, 'src/browser.ts');
  // What `import '@envd/sdk'` resolves to under the browser condition.
  const dot = pkg.exports?.['.'];
  const pick = (v) => (typeof v === 'string' ? v : v && (pick(v.browser) ?? pick(v.import) ?? pick(v.default)));
  const distRel = pick(dot) ?? pkg.browser ?? pkg.module ?? pkg.main;
  const distEntry = distRel ? path.join(pkgDir, distRel) : null;
  let mode = process.env.BROWSER_SDK || 'auto';
  if (mode === 'build' || (mode === 'dist' && (!distEntry || !existsSync(distEntry)))) {
    if (!pkg.scripts?.build) throw new Error('@envd/sdk has no build script');
    log('npm run build -w sdk-ts');
    const r = spawnSync('npm', ['run', 'build', '-w', 'sdk-ts'], { cwd: ROOT, stdio: ['ignore', 2, 'inherit'] });
    if (r.status !== 0) throw new Error(`npm run build -w sdk-ts failed (status ${r.status})`);
    mode = 'dist';
  }
  if (mode === 'auto') {
    const fresh =
      distEntry && existsSync(distEntry) && existsSync(path.join(pkgDir, 'src')) &&
      (await fsp.stat(distEntry)).mtimeMs >= (await newestMtime(path.join(pkgDir, 'src')));
    mode = fresh || !existsSync(srcEntry) ? 'dist' : 'src';
  }
  if (mode === 'src') {
    if (!existsSync(srcEntry)) throw new Error(`${srcEntry} not found`);
    log(`@envd/sdk from source: ${srcEntry}`);
    return { alias: srcEntry };
  }
  if (!distEntry || !existsSync(distEntry)) throw new Error(`@envd/sdk browser entry ${distEntry} not found`);
  log(`@envd/sdk from its package exports (browser): ${distEntry}`);
  return { alias: null };
}

async function bundlePage(outDir, sdk) {
  const esbuild = await import('esbuild');
  // The page may import only @envd/sdk (browser entry). Anything Node-only reaching the bundle
  // (node: builtins, connect-node) is a bug in the SDK's browser entry: fail the build on it.
  const forbidNode = {
    name: 'forbid-node',
    setup(build) {
      build.onResolve({ filter: /^(node:|@connectrpc\/connect-node$)/ }, (args) => ({
        errors: [{ text: `browser bundle must not import ${args.path} (imported from ${args.importer})` }],
      }));
    },
  };
  const aliasSdk = (entry) => ({
    name: 'envd-sdk-source',
    setup(build) {
      build.onResolve({ filter: /^@envd\/sdk(\/browser)?$/ }, () => ({ path: entry }));
    },
  });
  const r = await esbuild.build({
    entryPoints: [PAGE_ENTRY],
    nodePaths: [path.join(ROOT, 'node_modules')],
    outfile: path.join(outDir, 'main.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['browser'],
    target: ['chrome120'],
    sourcemap: 'inline',
    logLevel: 'silent',
    metafile: true,
    absWorkingDir: ROOT,
    plugins: sdk.alias ? [forbidNode, aliasSdk(sdk.alias)] : [forbidNode],
  });
  for (const w of r.warnings) log(`esbuild warning: ${w.text}`);
  const inputs = Object.keys(r.metafile.inputs);
  const sdkInputs = inputs.filter((i) => /(^|\/)sdk-ts\//.test(i) || i.includes('@envd/sdk'));
  log(`bundled ${inputs.length} modules (${sdkInputs.length} from @envd/sdk) -> ${outDir}/main.js`);
  await fsp.writeFile(
    path.join(outDir, 'index.html'),
    '<!doctype html><html><head><meta charset="utf-8"><title>envd browser test</title>' +
      '<link rel="icon" href="data:,"></head><body><script type="module" src="/main.js"></script></body></html>\n',
  );
}

// A tiny static server for the page, on its own port (so a different origin from envd).
async function startStatic(dir) {
  const files = {
    '/': ['index.html', 'text/html; charset=utf-8'],
    '/index.html': ['index.html', 'text/html; charset=utf-8'],
    '/main.js': ['main.js', 'text/javascript; charset=utf-8'],
  };
  staticServer = http.createServer(async (req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    const f = files[p];
    if (req.method !== 'GET' || !f) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const body = await fsp.readFile(path.join(dir, f[0]));
    res.writeHead(200, { 'content-type': f[1], 'cache-control': 'no-store' }).end(body);
  });
  await new Promise((r, j) => staticServer.listen(0, '127.0.0.1', r).once('error', j));
  return `http://127.0.0.1:${staticServer.address().port}`;
}

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, j) => { t = setTimeout(() => j(new Error(`${what}: timed out after ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(t));
}

function sha256(buf) {
  return createHash('sha256').update(buf).digest('hex');
}

// ---- node-side helpers the page can call (page.exposeFunction) ---------------------------------
// Every path is checked to lie inside the scratch dir before anything is written.
function scratchPath(scratch, p) {
  const abs = path.resolve(scratch, p);
  if (!abs.startsWith(scratch + path.sep)) throw new Error(`path ${p} escapes the scratch dir`);
  return abs;
}

// ---- main -------------------------------------------------------------------------------------
async function main() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: run \`bash scripts/setup-chromium.sh\` first (or set CHROMIUM=path)`);
  }
  tmpDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'envd-browser-'));
  const wwwDir = path.join(tmpDir, 'www');
  const scratch = path.join(tmpDir, 'scratch');
  await fsp.mkdir(wwwDir);
  await fsp.mkdir(scratch);
  await fsp.chmod(scratch, 0o777);

  const envdBin = buildEnvd();
  const sdk = await prepareSdk();
  startOverallTimer();
  await bundlePage(wwwDir, sdk);
  const envdUrl = await startEnvd(envdBin);
  log(`envd at ${envdUrl}`);
  const pageOrigin = await startStatic(wwwDir);
  log(`page at ${pageOrigin}`);

  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox'],
    // This runner handles signals itself (and closes the browser in cleanup()).
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  log(`chromium ${browser.version()}`);
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (m) => consoleLines.push({ kind: m.type(), text: m.text() }));
  page.on('pageerror', (e) => consoleLines.push({ kind: 'pageerror', text: e.stack || String(e) }));
  page.on('requestfailed', (r) => consoleLines.push({ kind: 'requestfailed', text: `${r.method()} ${r.url()}: ${r.failure()?.errorText}` }));
  page.on('crash', () => consoleLines.push({ kind: 'crash', text: 'page crashed' }));

  // Node-side actions the page asks for mid-scenario.
  await page.exposeFunction('__nodeWriteFiles', async (files) => {
    for (const f of files) {
      const abs = scratchPath(scratch, f.path);
      await fsp.writeFile(abs, f.text ?? '');
    }
    return true;
  });
  await page.exposeFunction('__nodeMkdir', async (p) => {
    await fsp.mkdir(scratchPath(scratch, p), { recursive: true });
    return true;
  });

  await page.goto(`${pageOrigin}/`);
  await withTimeout(page.waitForFunction(() => window.__envdTest?.ready === true), 15_000, 'page load');
  const available = await page.evaluate(() => Object.keys(window.__envdTest.scenarios));
  const cfg = { envdUrl, scratch, pageOrigin };

  // Node-side checks that follow a page scenario (gets the page's result).
  const after = {
    async terminal(r) {
      // The session's pid and offset survive in sessionStorage; everything else is gone.
      await page.reload();
      await withTimeout(page.waitForFunction(() => window.__envdTest?.ready === true), 15_000, 'page reload');
      return `${r.note}; page reloaded`;
    },
    async files(r) {
      const disk = await fsp.readFile(path.join(scratch, r.path));
      if (disk.length !== r.size) throw new Error(`on disk ${disk.length} bytes, uploaded ${r.size}`);
      if (sha256(disk) !== r.sha256) throw new Error(`on-disk sha256 ${sha256(disk)} != uploaded ${r.sha256}`);
      return `${r.note ?? ''}; on disk: ${disk.length} bytes, sha256 matches`;
    },
  };
  // Node-side setup before a page scenario (returns extra config for the page).
  const before = {
    async files() {
      // A binary file written by Node for the page to download and compare.
      const bytes = Buffer.alloc(300_001);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + (i >> 8)) & 0xff;
      await fsp.writeFile(path.join(scratch, 'from-node.bin'), bytes);
      return { nodeFile: 'from-node.bin', nodeFileSize: bytes.length, nodeFileSha256: sha256(bytes) };
    },
  };

  for (const name of available) {
    if (ONLY.length && !ONLY.includes(name)) continue;
    const mark = consoleLines.length;
    const started = Date.now();
    try {
      const extra = before[name] ? await before[name]() : {};
      const r = await withTimeout(
        page.evaluate(([n, c]) => window.__envdTest.scenarios[n](c), [name, { ...cfg, ...extra }]),
        SCENARIO_TIMEOUT_MS,
        name,
      );
      const note = after[name] ? await after[name](r) : r?.note;
      results.push({ name, ok: true });
      out(`PASS browser/${name}${note ? ` (${note})` : ''} [${Date.now() - started} ms]`);
    } catch (e) {
      const why = String(e?.message || e).split('\n').slice(0, 6).join(' | ');
      results.push({ name, ok: false, why });
      out(`FAIL browser/${name}: ${why}`);
      const lines = consoleSince(mark);
      if (lines.length) {
        out('  browser console during this scenario:');
        for (const l of lines) out(l);
      }
    }
  }

  if (envdProc.exitCode !== null || envdProc.signalCode !== null) {
    results.push({ name: 'envd-alive', ok: false });
    out(`FAIL browser/envd-alive: envd exited (${envdProc.exitCode ?? envdProc.signalCode}) during the run`);
  }
}

try {
  await main();
} catch (e) {
  results.push({ name: 'setup', ok: false });
  out(`FAIL browser/setup: ${e?.stack || e}`);
}
const failed = results.filter((r) => !r.ok).length;
const passed = results.length - failed;
if (failed || VERBOSE) dumpDiagnostics();
if (!results.length) out('FAIL browser/none: no scenario ran');
out(`${passed} passed, ${failed || (results.length ? 0 : 1)} failed`);
if (overall) clearTimeout(overall);
await exitWith(failed || !results.length ? 1 : 0);
