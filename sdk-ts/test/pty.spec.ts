/**
 * PTYs against a real envd, and the property test of input coalescing:
 * random interleavings of writes, resizes and kills arrive in order, with
 * every byte, every resize and the kill in its place.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import type { Interceptor } from "@connectrpc/connect";

import { Envd } from "../src/node.js";
import { startEnvd, type RunningEnvd } from "./support.js";

let server: RunningEnvd;

before(async () => {
  server = await startEnvd();
});
after(() => server.stop());

/**
 * A terminal program that echoes raw input byte for byte and, on SIGWINCH,
 * prints `[W rows cols]` (from the kernel's window size). Printed markers
 * use characters that never occur in the test's input.
 */
const ECHO_PROGRAM = `
import fcntl, os, signal, struct, sys, termios, tty
tty.setraw(0)
def winch(_signum, _frame):
    rows, cols = struct.unpack("hh", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\\0" * 4))
    os.write(1, ("[W %d %d]" % (rows, cols)).encode())
signal.signal(signal.SIGWINCH, winch)
os.write(1, b"[READY]")
while True:
    data = os.read(0, 4096)
    if not data:
        break
    os.write(1, data)
`;

/** Mulberry32: a small seeded generator, so a failing seed can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Op =
  | { kind: "input"; text: string; pauseBefore: boolean }
  | { kind: "resize"; cols: number; rows: number; pauseBefore: boolean }
  | { kind: "kill"; pauseBefore: boolean };

function generate(rand: () => number): Op[] {
  const ops: Op[] = [];
  const count = 20 + Math.floor(rand() * 60);
  let size = 0;
  for (let i = 0; i < count; i++) {
    // Sometimes let the queue drain first, so batches start at random points.
    const pauseBefore = rand() < 0.1;
    if (rand() < 0.2) {
      size++;
      // Every resize changes the size, so each one raises SIGWINCH.
      ops.push({ kind: "resize", cols: 40 + (size % 60), rows: 10 + (size % 30), pauseBefore });
    } else {
      const len = 1 + Math.floor(rand() * 6);
      let text = "";
      for (let j = 0; j < len; j++) {
        text += "abcdefghijklmnopqrstuvwxyz0123456789".charAt(Math.floor(rand() * 36));
      }
      ops.push({ kind: "input", text, pauseBefore });
    }
  }
  if (rand() < 0.5) {
    ops.push({ kind: "kill", pauseBefore: false });
  }
  return ops;
}

/** One RPC as the interceptor saw it. */
type Sent = { kind: "input"; text: string } | { kind: "resize"; cols: number; rows: number } | { kind: "kill" };

function recorder(log: Sent[]): Interceptor {
  return (next) => (request) => {
    const message = request.stream ? undefined : (request.message as Record<string, unknown>);
    const name = request.method.name;
    if (name === "SendInput" && message) {
      const input = message["input"] as { input: { value: Uint8Array } };
      log.push({ kind: "input", text: new TextDecoder().decode(input.input.value) });
    } else if (name === "Update" && message) {
      const pty = message["pty"] as { size: { cols: number; rows: number } };
      log.push({ kind: "resize", cols: pty.size.cols, rows: pty.size.rows });
    } else if (name === "SendSignal") {
      log.push({ kind: "kill" });
    }
    return next(request);
  };
}

/** Merges consecutive inputs: what the RPC log must look like, modulo how inputs were split. */
function normalise(ops: readonly Sent[]): string[] {
  const out: string[] = [];
  for (const op of ops) {
    const last = out.length - 1;
    if (op.kind === "input") {
      if (out[last]?.startsWith("i:")) {
        out[last] += op.text;
      } else {
        out.push(`i:${op.text}`);
      }
    } else {
      out.push(op.kind === "resize" ? `r:${op.rows}x${op.cols}` : "k");
    }
  }
  return out;
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("pty", () => {
  it("runs a shell with the requested size, resizes, and ends on kill", async () => {
    const envd = new Envd({ url: server.url });
    const pty = await envd.pty.create({ cols: 91, rows: 17, cmd: "/bin/sh", cwd: server.scratch });
    await pty.write("stty size; echo $TERM; pwd\n");
    await until(() => text(pty.received).includes(server.scratch), "first output");
    assert.match(text(pty.received), /17 91/);
    assert.match(text(pty.received), /xterm-256color/);
    await pty.resize({ cols: 100, rows: 30 });
    await pty.write("stty size\n");
    await until(() => text(pty.received).includes("30 100"), "resized output");
    await pty.kill();
    const result = await pty.wait();
    assert.equal(result.status, "signal: killed");
    assert.equal(result.exitCode, -1);
  });

  const totals = { writes: 0, inputRpcs: 0 };
  after(() => {
    // Across all seeds, queued keystrokes were merged.
    assert.ok(totals.inputRpcs < totals.writes, `${totals.inputRpcs} input RPCs for ${totals.writes} writes`);
  });

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) {
    it(`keeps input, resizes and kill in order (seed ${seed})`, async () => {
      const ops = generate(random(seed));
      const sent: Sent[] = [];
      const envd = new Envd({ url: server.url, interceptors: [recorder(sent)] });
      const pty = await envd.pty.create({ cols: 40, rows: 10, cmd: "python3", args: ["-c", ECHO_PROGRAM] });
      await until(() => text(pty.received).includes("[READY]"), "the echo program");

      // Fire ops without waiting, as a typing user and a resizing window would.
      const done: Promise<void>[] = [];
      for (const op of ops) {
        if (op.pauseBefore) {
          await Promise.all(done);
        }
        done.push(op.kind === "input" ? pty.write(op.text) : op.kind === "resize" ? pty.resize(op) : pty.kill());
      }
      await Promise.all(done);

      // 1. The wire saw exactly the ops, in order, inputs merged only between non-inputs.
      const expected = normalise(ops);
      assert.deepEqual(normalise(sent), expected);
      // Coalescing happened: fewer input RPCs than writes (the first write goes out alone).
      const writes = ops.filter((o) => o.kind === "input").length;
      const inputRpcs = sent.filter((o) => o.kind === "input").length;
      assert.ok(inputRpcs <= writes, `${inputRpcs} input RPCs for ${writes} writes`);
      totals.writes += writes;
      totals.inputRpcs += inputRpcs;

      const killed = ops.at(-1)?.kind === "kill";
      const allInput = ops.map((o) => (o.kind === "input" ? o.text : "")).join("");
      const resizes = ops.filter((o): o is Extract<Op, { kind: "resize" }> => o.kind === "resize");
      if (!killed) {
        // 2. The terminal echoed every byte in order, and saw every resize in its place.
        await until(() => text(pty.received).replace(/\[W \d+ \d+\]/g, "").endsWith(allInput), "all input echoed");
        const last = resizes.at(-1);
        if (last !== undefined) {
          await until(() => text(pty.received).includes(`[W ${last.rows} ${last.cols}]`), "the last resize");
        }
        const output = text(pty.received).replace("[READY]", "");
        assert.equal(output.replace(/\[W \d+ \d+\]/g, ""), allInput);
        // Each marker shows a requested size, in request order. (Signals do
        // not queue: resizes close together may raise one SIGWINCH, so a
        // marker may stand for several resizes; it then shows the later size.)
        const markers = [...output.matchAll(/\[W (\d+) (\d+)\]/g)];
        const sizes = resizes.map((r) => `${r.rows}x${r.cols}`);
        let cursor = 0;
        for (const marker of markers) {
          const shown = sizes.indexOf(`${marker[1]}x${marker[2]}`, cursor);
          assert.ok(shown >= 0, `marker ${marker[0]} out of order (sizes ${sizes.join(",")})`);
          cursor = shown;
          // Input typed after that resize is echoed after the marker.
          let sentBefore = 0;
          let seen = -1;
          for (const op of ops) {
            if (op.kind === "resize" && ++seen === shown) break;
            if (op.kind === "input") sentBefore += op.text.length;
          }
          const echoedBefore = output.slice(0, marker.index).replace(/\[W \d+ \d+\]/g, "").length;
          assert.ok(echoedBefore <= sentBefore, `${marker[0]} after ${echoedBefore} bytes, only ${sentBefore} sent before`);
        }
        assert.equal(markers.length > 0, resizes.length > 0);
        assert.equal(cursor, Math.max(0, sizes.length - 1), "the last marker shows the last size");
        await pty.kill();
      }
      // 3. The kill (queued last) ends the terminal.
      const result = await pty.wait();
      assert.equal(result.status, "signal: killed");
    });
  }
});
