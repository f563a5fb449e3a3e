/**
 * A live process stream (from `Start` or `Connect`), shared by command and
 * PTY handles: the start event, output as it arrives, the end event.
 */
import { create } from "@bufbuild/protobuf";

import { Code, EnvdError } from "./errors.js";
import type { ProcessEvent, ProcessSelector } from "./gen/process/process_pb.js";
import { ProcessSelectorSchema } from "./gen/process/process_pb.js";
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

/**
 * Pumps a process stream in the background from the moment it is attached,
 * keeping every output chunk; iterators replay from the first chunk.
 */
export class ProcessStream {
  readonly pid: number;
  readonly #chunks: OutputChunk[] = [];
  readonly #stream: OpenedStream<{ event?: ProcessEvent | undefined }>;
  #wake: (() => void)[] = [];
  #exit: ProcessExit | undefined;
  #failure: EnvdError | undefined;
  #done = false;
  readonly #finished: Promise<void>;

  constructor(pid: number, stream: OpenedStream<{ event?: ProcessEvent | undefined }>, callbacks: OutputCallbacks = {}) {
    this.pid = pid;
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

  /** Every output chunk since attach, then live ones until the process ends. */
  async *output(): AsyncGenerator<OutputChunk, void, undefined> {
    let next = 0;
    for (;;) {
      for (let chunk = this.#chunks[next]; chunk !== undefined; chunk = this.#chunks[next]) {
        next++;
        yield chunk;
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

  /** Output received so far on `stream`. */
  bytes(stream: OutputChunk["stream"]): Uint8Array {
    const parts = this.#chunks.filter((c) => c.stream === stream);
    const out = new Uint8Array(parts.reduce((n, c) => n + c.data.length, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part.data, at);
      at += part.data.length;
    }
    return out;
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
