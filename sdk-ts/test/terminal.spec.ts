/**
 * Terminal sessions (`envd.pty.v1`) against a real envd: the session API,
 * then the wire-level property test. Random interleavings of writes,
 * resizes and signals go through an interceptor that fails, duplicates,
 * delays and reorders `Send` requests, while the output stream is dropped
 * at random; the terminal program must see every byte once, in order, and
 * every resize and signal in its place. Seeds are printed on failure.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { create } from "@bufbuild/protobuf";
import type { Interceptor, UnaryResponse } from "@connectrpc/connect";
import { Code as ConnectCode, ConnectError } from "@connectrpc/connect";

import { SendResponseSchema } from "../src/gen/envd/pty/v1/pty_pb.js";
import { Envd } from "../src/node.js";
import type { TerminalSession } from "../src/node.js";
import { startEnvd, type RunningEnvd } from "./support.js";

let server: RunningEnvd;
before(async () => {
  // A ring larger than any output here, so a reattach never finds its offset gone.
  server = await startEnvd(["--scrollback-bytes", String(8 * 1024 * 1024)]);
});
after(() => server.stop());

/**
 * Raw-mode echo. After each read it reports, before echoing, what changed
 * since the last read: the window size (`[W rows cols]`) and pending USR1
 * signals (`[U]`; blocked, so they wait for this check). envd applies a
 * resize or signal before writing later input, so a marker is never printed
 * after input sent after its operation.
 */
const PROGRAM = `
import fcntl, os, select, signal, struct, sys, termios, tty
tty.setraw(0)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
def size():
    return struct.unpack("hh", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\\0" * 4))
last = size()
def report():
    global last
    out = b""
    if signal.SIGUSR1 in signal.sigpending():
        signal.sigtimedwait({signal.SIGUSR1}, 0)
        out += b"[U]"
    now = size()
    if now != last:
        last = now
        out += ("[W %d %d]" % now).encode()
    return out
os.write(1, b"[READY]")
while True:
    ready, _, _ = select.select([0], [], [], 0.02)
    data = os.read(0, 4096) if ready else b""
    if ready and not data:
        break
    out = report() + data
    if out:
        os.write(1, out)
`;

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

type Op = { kind: "input"; text: string } | { kind: "resize"; cols: number; rows: number } | { kind: "signal" };

function generate(rand: () => number): Op[] {
  const ops: Op[] = [];
  let size = 0;
  for (let i = 0, n = 30 + Math.floor(rand() * 50); i < n; i++) {
    const r = rand();
    if (r < 0.15) {
      size++;
      ops.push({ kind: "resize", cols: 40 + (size % 60), rows: 10 + (size % 30) });
    } else if (r < 0.25) {
      ops.push({ kind: "signal" });
    } else {
      let text = "";
      for (let j = 0, len = 1 + Math.floor(rand() * 8); j < len; j++) {
        text += "abcdefghijklmnopqrstuvwxyz0123456789".charAt(Math.floor(rand() * 36));
      }
      ops.push({ kind: "input", text });
    }
  }
  return ops;
}

/** The same request on its own signal: the call's is aborted once the call returned. */
function detached<T extends { signal: AbortSignal }>(request: T): T {
  return { ...request, signal: new AbortController().signal };
}

/** Fails, duplicates, delays and reorders `Send` requests, chosen by `rand`. */
function chaos(rand: () => number, pending: Promise<unknown>[], stats: Record<string, number>): Interceptor {
  const later = (ms: number, run: () => Promise<unknown>): void => {
    pending.push(new Promise((r) => setTimeout(r, ms)).then(run).catch(() => undefined));
  };
  return (next) => async (request) => {
    if (request.method.name !== "Send" || request.stream) return next(request);
    const seq = (request.message as unknown as { seq: bigint }).seq;
    const r = rand();
    if (process.env["DEBUG_SEND"]) {
      const ops = (request.message as unknown as { operations: { operation: { case: string; value: unknown } }[] }).operations;
      console.error(`send ${seq} r=${r.toFixed(2)} ${ops.map((o) => `${o.operation.case}:${o.operation.case === "input" ? "" : JSON.stringify(o.operation.value)}`).join(",")}`);
    }
    const count = (what: string): void => {
      stats[what] = (stats[what] ?? 0) + 1;
    };
    if (r < 0.12) {
      count("dropped before");
      throw new ConnectError("injected: connection reset before sending", ConnectCode.Unavailable);
    }
    if (r < 0.24) {
      count("answer lost");
      await next(request);
      throw new ConnectError("injected: connection reset after sending", ConnectCode.Unavailable);
    }
    if (r < 0.34) {
      count("duplicated");
      await next(request);
      return next(request);
    }
    if (r < 0.44) {
      count("stale copy");
      later(10 + rand() * 60, () => next(detached(request)));
      return next(request);
    }
    if (r < 0.54) {
      // Answer for envd and deliver late: the next batch overtakes this one,
      // and envd must hold it until this one arrives.
      count("overtaken");
      later(20 + rand() * 80, () => next(detached(request)));
      const response: UnaryResponse = {
        stream: false,
        service: request.service,
        method: request.method,
        header: new Headers(),
        trailer: new Headers(),
        message: create(SendResponseSchema, { lastAppliedSeq: seq }),
      };
      return response;
    }
    return next(request);
  };
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

async function until(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Collects a session's output via `onData`, asserting offsets are contiguous. */
function collector(): { chunks: Uint8Array[]; text: () => string; onData: (d: Uint8Array, c: { offset: number }) => void } {
  const chunks: Uint8Array[] = [];
  let next = 0;
  return {
    chunks,
    text: () => chunks.map(text).join(""),
    onData: (data, chunk) => {
      assert.equal(chunk.offset, next, "chunks are contiguous");
      next += data.length;
      chunks.push(data);
    },
  };
}

describe("terminal sessions", () => {
  it("creates, types, resizes, lists, signals and closes", async () => {
    const envd = new Envd({ url: server.url });
    const session = await envd.terminals.create({ cols: 91, rows: 17, cmd: "/bin/sh", cwd: server.scratch, tag: "spec" });
    assert.equal(session.pty, true);
    await session.write("stty size; echo $TERM; pwd\n");
    await until(() => text(session.output).includes(server.scratch), "first output");
    assert.match(text(session.output), /17 91/);
    assert.match(text(session.output), /xterm-256color/);
    await session.resize({ cols: 100, rows: 30 });
    await session.write("stty size\n");
    await until(() => text(session.output).includes("30 100"), "resized output");
    const listed = await envd.terminals.list();
    const mine = listed.find((t) => t.pid === session.pid);
    assert.ok(mine !== undefined);
    assert.deepEqual(mine.size, { cols: 100, rows: 30 });
    assert.equal(mine.tag, "spec");
    assert.equal(mine.lastAppliedSeq, session.nextSeq - 1);
    assert.equal(mine.outputOffset >= session.offset, true);
    await session.close({ graceMs: 1000 });
    const result = await session.wait();
    assert.equal(result.exited, false);
    assert.equal(session.offset, result.output.length);
  });

  it("attach continues the input sequence and replays from an offset", async () => {
    const envd = new Envd({ url: server.url });
    const first = await envd.terminals.create({ cols: 80, rows: 24, cmd: "cat" });
    await first.write("one ");
    await until(() => text(first.output) === "one ", "echo");
    const second = await envd.terminals.attach({ pid: first.pid, offset: 2 });
    assert.equal(second.nextSeq, first.nextSeq);
    await second.write("two");
    await until(() => text(second.output) === "e two", "replay then live");
    await until(() => text(first.output) === "one two", "live on the first session");
    first.detach();
    await second.kill();
    assert.equal((await second.wait()).status, "signal: killed");
  });

  it("reports output older than the ring as lost, never silently", async () => {
    const small = await startEnvd(["--scrollback-bytes", "1024"]);
    try {
      const envd = new Envd({ url: small.url });
      const made = await envd.terminals.create({ cols: 80, rows: 24, cmd: "head", args: ["-c", "5000", "/dev/zero"] });
      await made.wait();
      const lost: number[] = [];
      const late = await envd.terminals.attach({ pid: made.pid, offset: 0, onLost: (l) => lost.push(l.lostBytes) });
      const result = await late.wait();
      assert.equal(lost.length, 1);
      assert.equal(lost[0]! + result.output.length, 5000);
      assert.equal(late.lostBytes, lost[0]);
      const events = [];
      for await (const event of late) events.push(event.type);
      assert.equal(events[0], "lost");
    } finally {
      await small.stop();
    }
  });

  for (const pty of [true, false]) {
    it(`reattached output equals the program's exactly while streams drop at random (${pty ? "PTY" : "pipe"})`, async () => {
      const seed = 4242 + (pty ? 1 : 0);
      const rand = random(seed);
      const envd = new Envd({ url: server.url });
      const out = collector();
      // The pipe process waits for its session to attach before printing.
      const program = ["-c", pty ? "seq 1 200000" : "read go; seq 1 200000"];
      let session: TerminalSession;
      if (pty) {
        session = await envd.terminals.create({ cols: 80, rows: 24, cmd: "/bin/sh", args: program, onData: out.onData });
      } else {
        const spawned = await envd.commands.spawn("/bin/sh", { args: program, stdin: true, maxOutputBytes: 0 });
        session = await envd.terminals.attach({ pid: spawned.pid, offset: 0, stderrOffset: 0, onData: out.onData });
        spawned.disconnect();
        await session.write("go\n");
      }
      let drops = 0;
      const dropper = setInterval(() => {
        if (rand() < 0.5) {
          drops++;
          session.dropStream();
        }
      }, 3);
      try {
        const result = await session.wait();
        assert.equal(result.exitCode, 0);
      } finally {
        clearInterval(dropper);
      }
      let expected = "";
      for (let i = 1; i <= 200000; i++) expected += `${i}${pty ? "\r\n" : "\n"}`;
      const got = out.text();
      assert.equal(got.length, expected.length, `seed ${seed}: ${drops} drops`);
      assert.ok(got === expected, `seed ${seed}: output differs after ${drops} drops`);
      assert.ok(drops > 0);
      assert.equal(session.lostBytes, 0);
      assert.equal(session.offset, expected.length);
    });
  }

  const SEEDS = (process.env["ENVD_SDK_TS_SEEDS"] ?? "1,2,3,4,5,6,7,8").split(",").map(Number);
  for (const seed of SEEDS) {
    it(`keeps input, resizes and signals in order through faults (seed ${seed})`, async () => {
      try {
        await propertyRun(seed);
      } catch (e) {
        console.error(`terminal property test failed with seed ${seed} (ENVD_SDK_TS_SEEDS=${seed} to replay)`);
        throw e;
      }
    });
  }
});

async function propertyRun(seed: number): Promise<void> {
  const rand = random(seed);
  const ops = generate(rand);
  const pending: Promise<unknown>[] = [];
  const stats: Record<string, number> = {};
  const envd = new Envd({ url: server.url, interceptors: [chaos(random(seed * 7919), pending, stats)] });
  const out = collector();
  const session: TerminalSession = await envd.terminals.create({
    cols: 40,
    rows: 10,
    cmd: "python3",
    args: ["-c", PROGRAM],
    onData: out.onData,
    retry: { initialDelayMs: 5, maxDelayMs: 50 },
  });
  await until(() => out.text().includes("[READY]"), "the program");
  try {
    await checkRun(rand, ops, session, out, pending, stats);
  } catch (e) {
    const exit = await Promise.race([session.wait().then((r) => r.status, String), new Promise((r) => setTimeout(() => r("running"), 500))]);
    console.error(`program (${String(exit)}) output (tail): ${JSON.stringify(out.text().slice(-400))}`);
    throw e;
  }
}

async function checkRun(
  rand: () => number,
  ops: Op[],
  session: TerminalSession,
  out: ReturnType<typeof collector>,
  pending: Promise<unknown>[],
  stats: Record<string, number>,
): Promise<void> {

  const done: Promise<void>[] = [];
  for (const op of ops) {
    if (rand() < 0.1) await Promise.all(done);
    if (rand() < 0.08) session.dropStream();
    done.push(op.kind === "input" ? session.write(op.text) : op.kind === "resize" ? session.resize(op) : session.signal("USR1"));
  }
  await Promise.all(done);
  await Promise.all(pending);

  const allInput = ops.map((o) => (o.kind === "input" ? o.text : "")).join("");
  const strip = (s: string): string => s.replace(/\[W \d+ \d+\]|\[U\]/g, "");
  const resizes = ops.filter((o): o is Extract<Op, { kind: "resize" }> => o.kind === "resize");
  const lastSize = resizes.at(-1);
  await until(() => strip(out.text()).endsWith(allInput), "all input echoed");
  if (lastSize !== undefined) await until(() => out.text().includes(`[W ${lastSize.rows} ${lastSize.cols}]`), "the last size");
  if (ops.some((o) => o.kind === "signal")) await until(() => out.text().includes("[U]"), "a signal");

  const output = out.text().replace("[READY]", "");
  // Every byte exactly once, in order.
  assert.equal(strip(output), allInput);
  // Each marker stands for an operation (several, when they came together),
  // in operation order, and precedes all input sent after that operation.
  const sentBefore = (index: number): number =>
    ops.slice(0, index).reduce((n, o) => n + (o.kind === "input" ? o.text.length : 0), 0);
  let cursor = { W: -1, U: -1 };
  for (const marker of output.matchAll(/\[W (\d+) (\d+)\]|\[U\]/g)) {
    const kind = marker[0] === "[U]" ? "U" : "W";
    const echoedBefore = strip(output.slice(0, marker.index)).length;
    // The first later operation this marker can stand for; operations skipped
    // were reported together with the previous marker (signals do not queue).
    const at = ops.findIndex(
      (o, i) =>
        i > cursor[kind] &&
        (kind === "U" ? o.kind === "signal" : o.kind === "resize" && `${o.rows} ${o.cols}` === `${marker[1]} ${marker[2]}`) &&
        echoedBefore <= sentBefore(i),
    );
    assert.ok(at >= 0, `marker ${marker[0]} after ${echoedBefore} bytes stands for no operation sent after that many`);
    cursor = { ...cursor, [kind]: at };
  }
  // envd applied each batch once: its count is the session's.
  const listed = (await new Envd({ url: server.url }).terminals.list()).find((t) => t.pid === session.pid);
  assert.equal(listed?.lastAppliedSeq, session.nextSeq - 1);
  assert.equal(session.lostBytes, 0);
  assert.ok(Object.keys(stats).length > 0, "faults were injected");
  await session.kill();
  await session.wait();
}
