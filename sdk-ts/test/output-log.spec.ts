/** The bounded output log: what it keeps, and what a reader that fell behind learns. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { OutputLog } from "../src/output-log.js";

const chunk = (n: number, fill = 0): { data: Uint8Array } => ({ data: new Uint8Array(n).fill(fill) });

describe("OutputLog", () => {
  it("keeps the newest chunks within the bound, and the newest chunk even when larger", () => {
    const log = new OutputLog(10);
    for (let i = 1; i <= 5; i++) log.push(chunk(4, i));
    assert.deepEqual([...log.bytes()], [4, 4, 4, 4, 5, 5, 5, 5]);
    assert.equal(log.droppedBytes, 12);
    log.push(chunk(20, 9));
    assert.equal(log.bytes().length, 20);
    assert.equal(log.start, 5);
    assert.equal(log.end, 6);
  });

  it("tells a reader that fell behind how many bytes it missed", () => {
    const log = new OutputLog(8);
    log.push(chunk(4, 1));
    const first = log.read(0, 0);
    assert.equal(first?.kind, "chunk");
    for (let i = 0; i < 4; i++) log.push(chunk(4, 2));
    // The reader consumed position 0 (4 bytes) and now stands at 1; 1..2 were dropped.
    assert.deepEqual(log.read(1, 4), { kind: "missed", chunks: 2, bytes: 8 });
    assert.equal(log.read(3, 12)?.kind, "chunk");
    assert.equal(log.read(5, 20), undefined);
  });

  it("holds memory bounded over many chunks", () => {
    const log = new OutputLog(1024);
    for (let i = 0; i < 100_000; i++) log.push(chunk(100));
    assert.ok(log.held().length <= 11);
    assert.equal(log.droppedBytes + log.bytes().length, 100_000 * 100);
  });
});
