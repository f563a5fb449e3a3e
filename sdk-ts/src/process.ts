/**
 * A live process stream (from `Start` or `Connect`), shared by command and
 * PTY handles: the start event, output as it arrives, the end event.
 */
import { create } from "@bufbuild/protobuf";

import { Code, EnvdError } from "./errors.js";
import type { ProcessEvent, ProcessSelector } from "./gen/process/process_pb.js";
import { ProcessSelectorSchema } from "./gen/process/process_pb.js";
import { DEFAULT_MAX_OUTPUT_BYTES, OutputLog } from "./output-log.js";
import type { OpenedStream } from "./stream.js";

/** Which process: its pid, or `{ pid }`, or `{ tag }` (first live match). */
export type Selector = number | { pid: number } | { tag: string };

/** One chunk of output, verbatim as envd read it. */
export interface OutputChunk {
  /** `stdout`/`stderr` for commands, `pty` for terminals. */
  stream: "stdout" | "stderr" | "pty";
  data: Uint8Array;
}

/** How a process ended (envd's end event). */
export interface ProcessExit {
  /** Exit code; -1 when killed by a signal. */
  exitCode: number;
  /** True when the process exited by itself (false when signalled). */
  exited: boolean;
  /** `exit status N` or `signal: killed` and the like. */
  status: string;
  /** Set when the exit code is non-zero or the process was signalled. */
  error: string | undefined;
}

/** Callbacks fired as output arrives. */
export interface OutputCallbacks {
  onStdout?: ((data: string) => void) | undefined;
  onStderr?: ((data: string) => void) | undefined;
}

/** The protobuf selector for `selector`. */
export function toSelector(selector: Selector): ProcessSelector {
  if (typeof selector === "number") {
    return create(ProcessSelectorSchema, { selector: { case: "pid", value: selector } });
  }
  if ("pid" in selector) {
    return create(ProcessSelectorSchema, { selector: { case: "pid", value: selector.pid } });
  }
  return create(ProcessSelectorSchema, { selector: { case: "tag", value: selector.tag } });
}

/** Reads the first event, which must be `start`, and returns the pid. */
export async function readStart(stream: OpenedStream<{ event?: ProcessEvent | undefined }>): Promise<number> {
  const first = await stream.messages.next();
  const event = first.done === true ? undefined : first.value.event?.event;
  if (event?.case !== "start") {
    stream.abort();
    throw new EnvdError(Code.Internal, `expected a start event first, got ${event?.case ?? "the end of the stream"}`);
  }
  return event.value.pid;
}

/** How much output a handle keeps. */
export interface OutputRetention {
  /**
   * Output a handle keeps for `stdout`/`stderr`/`received`, `wait()` and late
   * iterators: the most recent chunks adding up to at most this many bytes
   * (default 16 MiB; `Infinity` keeps everything, as before 0.4). Older
   * chunks are dropped, and the result of `wait()` says so (`truncated`).
   * Callbacks and iterators that keep up see every byte whatever the bound.
   */
  maxOutputBytes?: number | undefined;
}

/**
 * Pumps a process stream in the background from the moment it is attached,
 * keeping the recent output (see {@link OutputRetention}); iterators replay
 * from the oldest chunk held.
 */
export class ProcessStream {
  readonly pid: number;
  readonly #chunks: OutputLog<OutputChunk>;
  readonly #stream: OpenedStream<{ event?: ProcessEvent | undefined }>;
  #wake: (() => void)[] = [];
  #exit: ProcessExit | undefined;
  #failure: EnvdError | undefined;
  #done = false;
  readonly #finished: Promise<void>;

  constructor(
    pid: number,
    stream: OpenedStream<{ event?: ProcessEvent | undefined }>,
    callbacks: OutputCallbacks = {},
    retention: OutputRetention = {},
  ) {
    this.pid = pid;
    this.#chunks = new OutputLog(retention.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES);
    this.#stream = stream;
    this.#finished = this.#pump(callbacks);
  }

  async #pump(callbacks: OutputCallbacks): Promise<void> {
    const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
    try {
      for await (const message of this.#stream.messages) {
        const event = message.event?.event;
        if (event?.case === "data") {
          const output = event.value.output;
          if (output.case === undefined) {
            continue;
          }
          this.#chunks.push({ stream: output.case, data: output.value });
          if (output.case === "stdout" && callbacks.onStdout) {
            callbacks.onStdout(decoders.stdout.decode(output.value, { stream: true }));
          } else if (output.case === "stderr" && callbacks.onStderr) {
            callbacks.onStderr(decoders.stderr.decode(output.value, { stream: true }));
          }
          this.#notify();
        } else if (event?.case === "end") {
          const end = event.value;
          this.#exit = { exitCode: end.exitCode, exited: end.exited, status: end.status, error: end.error };
        }
      }
      if (this.#exit === undefined) {
        this.#failure = new EnvdError(Code.Unavailable, "the process stream ended without an end event");
      }
    } catch (e) {
      this.#failure = EnvdError.from(e);
    } finally {
      this.#done = true;
      this.#notify();
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) {
      w();
    }
  }

  /**
   * Every output chunk held (all since attach, unless more than the bound
   * arrived), then live ones until the process ends. An iterator that falls
   * more than the bound behind fails with `data_loss` rather than skip.
   */
  async *output(): AsyncGenerator<OutputChunk, void, undefined> {
    let next = this.#chunks.start;
    // Bytes before position `next`: those dropped before this iterator began, then those it read.
    let consumed = this.#chunks.droppedBytes;
    for (;;) {
      for (let read = this.#chunks.read(next, consumed); read !== undefined; read = this.#chunks.read(next, consumed)) {
        if (read.kind === "missed") {
          throw new EnvdError(
            Code.DataLoss,
            `the output iterator fell behind: ${read.bytes} bytes it had not read were dropped ` +
              "beyond the handle's maxOutputBytes; read faster or raise maxOutputBytes",
          );
        }
        next++;
        consumed += read.chunk.data.length;
        yield read.chunk;
      }
      if (this.#done) {
        if (this.#failure !== undefined) {
          throw this.#failure;
        }
        return;
      }
      await new Promise<void>((resolve) => this.#wake.push(resolve));
    }
  }

  /** Output held on `stream` (everything received, unless more than the bound arrived). */
  bytes(stream: OutputChunk["stream"]): Uint8Array {
    return this.#chunks.bytes((c) => c.stream === stream);
  }

  /** Whether output was dropped to stay within `maxOutputBytes`. */
  get truncated(): boolean {
    return this.#chunks.droppedBytes > 0;
  }

  /** Output received so far on `stream`, as text (invalid UTF-8 replaced). */
  text(stream: OutputChunk["stream"]): string {
    return new TextDecoder().decode(this.bytes(stream));
  }

  /** Resolves with the end event; rejects when the stream failed first. */
  async exit(): Promise<ProcessExit> {
    await this.#finished;
    if (this.#exit !== undefined) {
      return this.#exit;
    }
    throw this.#failure ?? new EnvdError(Code.Unknown, "the process stream ended");
  }

  /** Whether the stream has finished (end event, failure or disconnect). */
  get done(): boolean {
    return this.#done;
  }

  /** Drops the stream; the process keeps running. */
  disconnect(): void {
    this.#stream.abort();
  }
}
