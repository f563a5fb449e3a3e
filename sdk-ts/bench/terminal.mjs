#!/usr/bin/env node
// Terminal session benchmark through @envd/sdk (envd.pty.v1). Prints numbers; asserts nothing
// beyond byte counts. Not a test.
//
//   make bench-terminal                      # debug envd (ENVD_BIN), built SDK
//   ENVD_BIN=target/release/envd node sdk-ts/bench/terminal.mjs [--samples 2000] [--mib 100]
//
// 1. Keystroke echo latency: one byte typed into `stty raw -echo; cat` in a PTY, timed until
//    the same byte comes back through the session's output (p50/p90/p99 over --samples).
// 2. PTY output throughput: `cat` of a --mib MiB file (random bytes, raw mode so nothing is
//    translated), from Create to Exit, in MB/s (10^6 bytes/s) and MiB/s.
// envd runs on 127.0.0.1:0 with scratch --run-dir/--hosts-file/--drop-caches in a temp dir.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { randomFillSync } from "node:crypto";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { Envd } from "@envd/sdk";

const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SAMPLES = arg("samples", 2000);
const MIB = arg("mib", 100);
const ENVD_BIN = process.env.ENVD_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, "target"), "debug/envd");

const dir = mkdtempSync(join(tmpdir(), "envd-bench-terminal-"));
writeFileSync(join(dir, "hosts"), "127.0.0.1\tlocalhost\n");
const envd = spawn(ENVD_BIN, [
  "--addr", "127.0.0.1:0", "--run-dir", join(dir, "run"), "--hosts-file", join(dir, "hosts"),
  "--drop-caches", join(dir, "drop_caches"),
], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ENVD_LOG: process.env.ENVD_LOG ?? "warn" } });
const stop = () => {
  envd.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
};
process.on("exit", stop);

try {
  const url = await new Promise((res, rej) => {
    envd.once("exit", (c) => rej(new Error(`envd exited (${c})`)));
    createInterface({ input: envd.stdout }).on("line", (l) => {
      const m = /listening on (http:\/\/\S+)/.exec(l);
      if (m) res(m[1]);
    });
  });
  const client = new Envd({ url });
  console.log(`envd ${ENVD_BIN}`);
  await latency(client);
  await throughput(client);
} finally {
  stop();
}

async function latency(client) {
  let waiter = null;
  let received = 0;
  const session = await client.terminals.create({
    cols: 80, rows: 24, cmd: "/bin/sh", args: ["-c", "stty raw -echo; printf R; exec cat"],
    onData: (data) => {
      received += data.length;
      if (waiter && received >= waiter.at) {
        const w = waiter;
        waiter = null;
        w.resolve();
      }
    },
  });
  const echoed = (at) => new Promise((r) => {
    waiter = { at, resolve: r };
    if (received >= at) { waiter = null; r(); }
  });
  await echoed(1); // "R": raw mode is on
  const times = [];
  for (let i = 0; i < SAMPLES + 50; i++) {
    const t0 = process.hrtime.bigint();
    const back = echoed(received + 1);
    await session.write("x");
    await back;
    if (i >= 50) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(3);
  console.log(`keystroke echo latency over ${times.length} samples (after 50 warm-up): p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms, max ${times.at(-1).toFixed(3)} ms`);
  await session.kill();
  await session.wait();
}

async function throughput(client) {
  const file = join(dir, "payload.bin");
  const fd = openSync(file, "w");
  const block = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < MIB; i++) writeSync(fd, randomFillSync(block));
  closeSync(fd);
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  const session = await client.terminals.create({
    cols: 80, rows: 24, cmd: "/bin/sh", args: ["-c", `stty raw -echo; cat ${file}`],
    onData: (data) => { bytes += data.length; },
  });
  const result = await session.wait();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const expected = MIB * 1024 * 1024;
  if (result.exitCode !== 0 || bytes !== expected) throw new Error(`got ${bytes} of ${expected} bytes, exit ${result.exitCode}`);
  console.log(`PTY output throughput: ${MIB} MiB in ${seconds.toFixed(2)} s = ${(bytes / seconds / 1e6).toFixed(1)} MB/s (${(bytes / seconds / 1048576).toFixed(1)} MiB/s)`);
}
