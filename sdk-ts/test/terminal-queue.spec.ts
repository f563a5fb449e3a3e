/** The terminal send queue in isolation: batching, merging, seq reuse on retry, failures. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { Code, EnvdError } from "../src/errors.js";
import type { TerminalOp } from "../src/terminal-queue.js";
import { SendQueue, merge } from "../src/terminal-queue.js";

const enc = (s: string): TerminalOp => ({ kind: "input", data: new TextEncoder().encode(s) });
const show = (ops: TerminalOp[]): string =>
  ops
    .map((op) =>
      op.kind === "input" ? `i:${new TextDecoder().decode(op.data)}` : op.kind === "resize" ? `r:${op.cols}x${op.rows}` : `s:${op.signal}`,
    )
    .join(",");
const fast = { attempts: 4, initialDelayMs: 1, maxDelayMs: 2 };

/** A fake envd: applies batches strictly in order, ignores applied ones; the first call waits for `release`. */
function fakeEnvd(): { sent: string[]; applied: string[]; release: () => void; send: (seq: number, ops: TerminalOp[]) => Promise<number> } {
  const sent: string[] = [];
  const applied: string[] = [];
  let last = 0;
  let gate: (() => void) | undefined;
  let first = true;
  return {
    sent,
    applied,
    release: () => gate?.(),
    send: async (seq, ops) => {
      sent.push(`${seq}:${show(ops)}`);
      if (first) {
        first = false;
        await new Promise<void>((resolve) => {
          gate = resolve;
        });
      }
      if (seq === last + 1) {
        applied.push(show(ops));
        last = seq;
      }
      return last;
    },
  };
}

describe("SendQueue", () => {
  it("sends what queued behind the in-flight batch as one batch, inputs merged, others in place", async () => {
    const envd = fakeEnvd();
    const queue = new SendQueue(envd.send, 1, fast);
    const all = [
      queue.push(enc("a")),
      queue.push(enc("b")),
      queue.push(enc("c")),
      queue.push({ kind: "resize", cols: 10, rows: 5 }),
      queue.push(enc("d")),
      queue.push({ kind: "signal", signal: "INT" }),
      queue.push(enc("e")),
      queue.push(enc("f")),
    ];
    envd.release();
    await Promise.all(all);
    assert.deepEqual(envd.sent, ["1:i:a", "2:i:bc,r:10x5,i:d,s:INT,i:ef"]);
    assert.equal(queue.nextSeq, 3);
  });

  it("starts at the seq it is given (attach continues after last_applied_seq)", async () => {
    const seen: number[] = [];
    const queue = new SendQueue((seq) => {
      seen.push(seq);
      return Promise.resolve(seq);
    }, 42, fast);
    await queue.push(enc("x"));
    await queue.push(enc("y"));
    assert.deepEqual(seen, [42, 43]);
  });

  it("retries a batch whose fate is unknown with the same seq and the same ops", async () => {
    const calls: string[] = [];
    let failures = 2;
    let last = 0;
    const queue = new SendQueue((seq, ops) => {
      calls.push(`${seq}:${show(ops)}`);
      if (seq === last + 1) last = seq; // applied, then the answer is lost
      if (failures-- > 0) return Promise.reject(new EnvdError(Code.Unavailable, "connection reset"));
      return Promise.resolve(last);
    }, 1, fast);
    const first = queue.push(enc("a"));
    const second = queue.push(enc("b")); // queued while batch 1 is retried: not added to it
    await Promise.all([first, second]);
    assert.deepEqual(calls, ["1:i:a", "1:i:a", "1:i:a", "2:i:b"]);
  });

  it("rejects a refused batch without consuming its seq", async () => {
    const seen: number[] = [];
    const queue = new SendQueue((seq, ops) => {
      seen.push(seq);
      if (ops[0]?.kind === "resize") return Promise.reject(new EnvdError(Code.InvalidArgument, "bad size"));
      return Promise.resolve(seq);
    }, 1, fast);
    await assert.rejects(queue.push({ kind: "resize", cols: 0, rows: 0 }), (e: EnvdError) => e.code === Code.InvalidArgument);
    await queue.push(enc("ok"));
    assert.deepEqual(seen, [1, 1]);
  });

  it("after every retry failed, refuses everything later instead of guessing a seq", async () => {
    let calls = 0;
    const queue = new SendQueue(() => {
      calls++;
      return Promise.reject(new EnvdError(Code.Unavailable, "down"));
    }, 1, fast);
    await assert.rejects(queue.push(enc("a")), (e: EnvdError) => e.code === Code.Unavailable && /unknown/.test(e.message));
    assert.equal(calls, 4);
    await assert.rejects(queue.push(enc("b")), (e: EnvdError) => e.code === Code.Unavailable);
    assert.equal(calls, 4);
  });

  it("refuses a batch another writer's seq displaced, then continues after it", async () => {
    let last = 5; // another client already sent batches 1..5
    const queue = new SendQueue((seq) => {
      if (seq === last + 1) last = seq;
      return Promise.resolve(last);
    }, 1, fast);
    await assert.rejects(queue.push(enc("lost")), (e: EnvdError) => e.code === Code.FailedPrecondition);
    assert.equal(queue.nextSeq, 6);
    await queue.push(enc("next"));
    assert.equal(last, 6);
  });

  it("merge keeps non-input ops in place and drops empty input", () => {
    const ops = merge([enc("a"), enc(""), enc("b"), { kind: "signal", signal: "USR1" }, enc("c")]);
    assert.equal(show(ops), "i:ab,s:USR1,i:c");
  });
});
