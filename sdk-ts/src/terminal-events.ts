/**
 * `envd.pty.v1` events and requests as SDK types: offsets as numbers (safe
 * up to 2^53 bytes), streams and signals by name, keepalives dropped.
 */
import { create } from "@bufbuild/protobuf";

import type { Connection } from "./connection.js";
import { Code, EnvdError } from "./errors.js";
import type { Event, Operation, Selector as PtySelector } from "./gen/envd/pty/v1/pty_pb.js";
import { OperationSchema, SelectorSchema, Signal, Stream } from "./gen/envd/pty/v1/pty_pb.js";
import type { Selector } from "./process.js";
import type { OpenedStream } from "./stream.js";
import { watchStream } from "./stream.js";
import type { TerminalOp, TerminalSignal } from "./terminal-queue.js";

/** Which output stream: a terminal's, or a pipe process's stdout/stderr. */
export type TerminalStream = "pty" | "stdout" | "stderr";

/** A terminal's window size in character cells. */
export interface TerminalSize {
  cols: number;
  rows: number;
}

/** Bytes of a stream, at their byte offset in it. */
export interface TerminalOutput {
  type: "output";
  stream: TerminalStream;
  /** Offset of `data[0]`; the next chunk of the stream starts at `offset + data.length`. */
  offset: number;
  data: Uint8Array;
}

/**
 * Output that is gone: older than envd's scrollback ring when (re)attaching,
 * or dropped by this session because a reader fell more than its
 * `keepOutputBytes` behind. The stream continues at `resumeOffset`.
 */
export interface TerminalLost {
  type: "lost";
  stream: TerminalStream;
  lostBytes: number;
  resumeOffset: number;
}

/** How the program ended. */
export interface TerminalExit {
  exitCode: number;
  exited: boolean;
  status: string;
  error: string | undefined;
}

/** The first event of a Create or Attach stream. */
export interface TerminalStarted {
  type: "started";
  pid: number;
  tag: string | undefined;
  /** False for a pipe process (output on `stdout`/`stderr`). */
  pty: boolean;
  lastAppliedSeq: number;
  size: TerminalSize | undefined;
}

/** One event of a raw Create/Attach stream (keepalives are not events). */
export type TerminalWireEvent = TerminalStarted | TerminalOutput | TerminalLost | ({ type: "exit" } & TerminalExit);

const STREAMS: Partial<Record<Stream, TerminalStream>> = {
  [Stream.UNSPECIFIED]: undefined,
  [Stream.PTY]: "pty",
  [Stream.STDOUT]: "stdout",
  [Stream.STDERR]: "stderr",
};

function streamName(stream: Stream): TerminalStream {
  const name = STREAMS[stream];
  if (name === undefined) {
    throw new EnvdError(Code.Internal, `envd sent output of unknown stream ${stream}`);
  }
  return name;
}

/** The SDK form of one wire event; `undefined` for a keepalive or an event this SDK does not know. */
export function fromWire(event: Event | undefined): TerminalWireEvent | undefined {
  const e = event?.event;
  switch (e?.case) {
    case "started":
      return {
        type: "started",
        pid: e.value.pid,
        tag: e.value.tag,
        pty: e.value.pty,
        lastAppliedSeq: Number(e.value.lastAppliedSeq),
        size: e.value.size === undefined ? undefined : { cols: e.value.size.cols, rows: e.value.size.rows },
      };
    case "output":
      return { type: "output", stream: streamName(e.value.stream), offset: Number(e.value.offset), data: e.value.data };
    case "lost":
      return {
        type: "lost",
        stream: streamName(e.value.stream),
        lostBytes: Number(e.value.lostBytes),
        resumeOffset: Number(e.value.resumeOffset),
      };
    case "exit":
      return { type: "exit", exitCode: e.value.exitCode, exited: e.value.exited, status: e.value.status, error: e.value.error };
    default:
      return undefined;
  }
}

/** The `envd.pty.v1` selector for `selector`. */
export function toPtySelector(selector: Selector): PtySelector {
  if (typeof selector === "number") {
    return create(SelectorSchema, { selector: { case: "pid", value: selector } });
  }
  if ("pid" in selector) {
    return create(SelectorSchema, { selector: { case: "pid", value: selector.pid } });
  }
  return create(SelectorSchema, { selector: { case: "tag", value: selector.tag } });
}

const SIGNALS: Record<TerminalSignal, Signal> = {
  HUP: Signal.HUP,
  INT: Signal.INT,
  QUIT: Signal.QUIT,
  KILL: Signal.KILL,
  USR1: Signal.USR1,
  USR2: Signal.USR2,
  TERM: Signal.TERM,
  CONT: Signal.CONT,
  STOP: Signal.STOP,
  TSTP: Signal.TSTP,
  WINCH: Signal.WINCH,
};

/** The wire signal for `name`; unknown names are refused client-side. */
export function toSignal(name: TerminalSignal): Signal {
  const signal = (SIGNALS as Record<string, Signal | undefined>)[name.replace(/^SIG/, "")];
  if (signal === undefined) {
    throw new EnvdError(Code.InvalidArgument, `unknown terminal signal ${name}`);
  }
  return signal;
}

/** The wire operation for `op`. */
export function toOperation(op: TerminalOp): Operation {
  switch (op.kind) {
    case "input":
      return create(OperationSchema, { operation: { case: "input", value: op.data } });
    case "resize":
      return create(OperationSchema, { operation: { case: "resize", value: { cols: op.cols, rows: op.rows } } });
    case "signal":
      return create(OperationSchema, { operation: { case: "signal", value: toSignal(op.signal) } });
  }
}

/** A Create or Attach stream with its events converted. */
export type WireStream = OpenedStream<{ event?: Event | undefined }>;

/** Opens Attach on `selector` from the given offsets. */
export function openAttach(
  conn: Connection,
  selector: Selector,
  offsets: { offset?: number | undefined; stderrOffset?: number | undefined },
  options: { signal?: AbortSignal | undefined; timeoutMs?: number | undefined } = {},
): WireStream {
  const request = {
    process: toPtySelector(selector),
    offset: offsets.offset === undefined ? undefined : BigInt(offsets.offset),
    stderrOffset: offsets.stderrOffset === undefined ? undefined : BigInt(offsets.stderrOffset),
  };
  return watchStream(conn, (call) => conn.pty.attach(request, call), options);
}

/** Reads events up to the first, which must be `started`. */
export async function readStarted(stream: WireStream): Promise<TerminalStarted> {
  for (;;) {
    const next = await stream.messages.next();
    const event = next.done === true ? undefined : fromWire(next.value.event);
    if (next.done !== true && event === undefined) {
      continue;
    }
    if (event?.type !== "started") {
      stream.abort();
      throw new EnvdError(Code.Internal, `expected a started event first, got ${event?.type ?? "the end of the stream"}`);
    }
    return event;
  }
}
