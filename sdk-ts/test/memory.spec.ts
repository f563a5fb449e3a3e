/**
 * Handles keep output only up to their bound: 1 GiB streamed through a
 * command handle (and a smaller flood through a PTY handle and a terminal
 * session) grows the client's memory by far less than what passed through.
 * `ENVD_SDK_TS_STREAM_MIB` sets the command size (default 1024).
 */
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { after, before, describe, it } from "node:test";

import { Envd } from "../src/node.js";
import { startEnvd, type RunningEnvd } from "./support.js";

const MiB = 1024 * 1024;
const COMMAND_MIB = Number(process.env["ENVD_SDK_TS_STREAM_MIB"] ?? 1024);
/** Generous: the bound is 16 MiB of output, plus transport buffers in flight. */
const GROWTH_LIMIT = 64 * MiB;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

let server: RunningEnvd;
before(async () => {
  server = await startEnvd();
});
after(() => server.stop());

/** Memory the process holds live: the JS heap plus array buffers, after a full GC. */
function live(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * Runs `work`, measuring live memory (after a forced GC) every 200 ms; returns
 * the peak growth over the start, and the peak RSS growth (garbage included).
 */
async function peakGrowth(work: () => Promise<void>): Promise<{ live: number; rss: number }> {
  const base = live();
  const baseRss = process.memoryUsage().rss;
  let peak = base;
  let peakRss = baseRss;
  const timer = setInterval(() => {
    peak = Math.max(peak, live());
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 200);
  try {
    await work();
    peak = Math.max(peak, live());
  } finally {
    clearInterval(timer);
  }
  return { live: peak - base, rss: peakRss - baseRss };
}

describe("output memory bound", () => {
  it(`streams ${COMMAND_MIB} MiB through a command handle in bounded memory`, async () => {
    const envd = new Envd({ url: server.url });
    let seen = 0;
    const growth = await peakGrowth(async () => {
      const handle = await envd.commands.spawn("head", { args: ["-c", `${COMMAND_MIB}M`, "/dev/zero"] });
      for await (const chunk of handle) seen += chunk.data.length;
      const result = await handle.wait();
      assert.equal(result.exitCode, 0);
      assert.equal(result.truncated, COMMAND_MIB > 16);
      assert.ok(result.stdout.length <= 16 * MiB + 64 * 1024, `kept ${result.stdout.length} bytes`);
    });
    assert.equal(seen, COMMAND_MIB * MiB);
    const show = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;
    console.log(`command: ${COMMAND_MIB} MiB streamed; peak live growth ${show(growth.live)}, peak RSS growth ${show(growth.rss)}`);
    assert.ok(growth.live < GROWTH_LIMIT, `live memory grew ${show(growth.live)}`);
  });

  it("keeps a PTY handle's output within maxOutputBytes", async () => {
    const envd = new Envd({ url: server.url });
    const pty = await envd.pty.create({ cols: 80, rows: 24, cmd: "head", args: ["-c", "64M", "/dev/zero"], maxOutputBytes: 4 * MiB });
    const result = await pty.wait();
    assert.equal(result.exitCode, 0);
    assert.equal(result.truncated, true);
    assert.ok(result.output.length <= 4 * MiB + 64 * 1024 && result.output.length >= 3 * MiB, `kept ${result.output.length}`);
  });
});
