/** The PTY input queue in isolation: merging, ordering, failures. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { PtyOp } from "../src/input-queue.js";
import { PtyInputQueue } from "../src/input-queue.js";

const text = (op: PtyOp): string =>
  op.kind === "input" ? `i:${new TextDecoder().decode(op.data)}` : op.kind === "resize" ? `r:${op.cols}x${op.rows}` : "k";

function gatedQueue(): { queue: PtyInputQueue; sent: string[]; release: () => void } {
  const sent: string[] = [];
  let gate: (() => void) | undefined;
  let first = true;
  const queue = new PtyInputQueue(async (op) => {
    sent.push(text(op));
    if (first) {
      first = false;
      await new Promise<void>((resolve) => {
        gate = resolve;
      });
    }
  });
  return { queue, sent, release: () => gate?.() };
}

describe("PtyInputQueue", () => {
  it("merges keystrokes queued behind an in-flight input", async () => {
    const { queue, sent, release } = gatedQueue();
    const enc = (s: string): PtyOp => ({ kind: "input", data: new TextEncoder().encode(s) });
    const all = [queue.push(enc("a")), queue.push(enc("b")), queue.push(enc("c")), queue.push(enc("d"))];
    release();
    await Promise.all(all);
    assert.deepEqual(sent, ["i:a", "i:bcd"]);
  });

  it("never merges across a resize or kill and keeps their order", async () => {
    const { queue, sent, release } = gatedQueue();
    const enc = (s: string): PtyOp => ({ kind: "input", data: new TextEncoder().encode(s) });
    const all = [
      queue.push(enc("a")),
      queue.push(enc("b")),
      queue.push({ kind: "resize", cols: 10, rows: 5 }),
      queue.push(enc("c")),
      queue.push(enc("d")),
      queue.push({ kind: "resize", cols: 11, rows: 6 }),
      queue.push({ kind: "resize", cols: 12, rows: 7 }),
      queue.push(enc("e")),
      queue.push({ kind: "kill" }),
    ];
    release();
    await Promise.all(all);
    assert.deepEqual(sent, ["i:a", "i:b", "r:10x5", "i:cd", "r:11x6", "r:12x7", "i:e", "k"]);
  });

  it("rejects every write merged into a failed request, and goes on", async () => {
    let calls = 0;
    const queue = new PtyInputQueue((op) => {
      calls++;
      return op.kind === "resize" ? Promise.reject(new Error("boom")) : Promise.resolve();
    });
    const resize = queue.push({ kind: "resize", cols: 1, rows: 1 });
    const after = queue.push({ kind: "kill" });
    await assert.rejects(resize, /boom/);
    await after;
    assert.equal(calls, 2);
  });
});
