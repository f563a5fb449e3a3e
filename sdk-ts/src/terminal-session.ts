/**
 * One terminal session on `envd.pty.v1.Pty`: sequenced input (see
 * {@link SendQueue}) and an output stream that survives dropped
 * connections. When the stream fails as a network failure does, the
 * session attaches again by itself from the offset after the last byte it
 * saw, so its reader gets every byte once, in order; bytes envd no longer
 * holds arrive as an explicit `lost` event, never as a silent gap.
 */
import type { Connection } from "./connection.js";
import { Code, EnvdError, wrapErrors } from "./errors.js";
import { OutputLog } from "./output-log.js";
import type {
  TerminalExit,
  TerminalLost,
  TerminalOutput,
  TerminalSize,
  TerminalStarted,
  TerminalStream,
  WireStream,
} from "./terminal-events.js";
import { fromWire, openAttach, readStarted, toOperation, toPtySelector } from "./terminal-events.js";
import type { RetryPolicy, TerminalOp, TerminalSignal } from "./terminal-queue.js";
import { DEFAULT_RETRY, SendQueue, isRetryable } from "./terminal-queue.js";

/** Default of {@link SessionOptions.keepOutputBytes}: 1 MiB. */
export const DEFAULT_KEEP_OUTPUT_BYTES = 1024 * 1024;

/** Output and lost events, as a session delivers them. */
export type TerminalEvent = TerminalOutput | TerminalLost;

/** Options every session takes (create and attach). */
export interface SessionOptions {
  /** Called with each chunk of output, in order, exactly once. */
  onData?: ((data: Uint8Array, chunk: TerminalOutput) => void) | undefined;
  /** Called when output is lost (older than envd's scrollback ring on attach). */
  onLost?: ((lost: TerminalLost) => void) | undefined;
  /**
   * Output the session keeps for `output`, `wait()` and late iterators: the
   * most recent chunks adding up to at most this many bytes (default 1 MiB).
   * `onData` and iterators that keep up see every byte whatever the bound.
   */
  keepOutputBytes?: number | undefined;
  /** Retries of a batch or a reattach whose fate is unknown. */
  retry?: Partial<RetryPolicy> | undefined;
}

/** A finished terminal. */
export interface TerminalResult extends TerminalExit {
  pid: number;
  /** The terminal's output this session kept (the last `keepOutputBytes` when `truncated`). */
  output: Uint8Array;
  /** Output beyond `keepOutputBytes` was dropped from `output`. */
  truncated: boolean;
}

type Entry = TerminalEvent & { data: Uint8Array };

/** A live terminal (or pipe process) session. */
export class TerminalSession implements AsyncIterable<TerminalEvent> {
  readonly #conn: Connection;
  readonly #started: TerminalStarted;
  readonly #queue: SendQueue;
  readonly #retry: RetryPolicy;
  readonly #options: SessionOptions;
  readonly #log: OutputLog<Entry>;
  /** Next expected offset per stream; absent until known (attach without an offset). */
  readonly #expected = new Map<TerminalStream, number>();
  #current: WireStream | undefined;
  #dropping = false;
  #detached = false;
  #exit: TerminalExit | undefined;
  #failure: EnvdError | undefined;
  #lostBytes = 0;
  #wake: (() => void)[] = [];
  readonly #finished: Promise<void>;

  /** @internal Use `envd.terminals.create` or `envd.terminals.attach`. */
  constructor(
    conn: Connection,
    stream: WireStream,
    started: TerminalStarted,
    offsets: { offset?: number | undefined; stderrOffset?: number | undefined },
    options: SessionOptions,
  ) {
    this.#conn = conn;
    this.#started = started;
    this.#options = options;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#log = new OutputLog(options.keepOutputBytes ?? DEFAULT_KEEP_OUTPUT_BYTES);
    const main: TerminalStream = started.pty ? "pty" : "stdout";
    if (offsets.offset !== undefined) this.#expected.set(main, offsets.offset);
    if (offsets.stderrOffset !== undefined && !started.pty) this.#expected.set("stderr", offsets.stderrOffset);
    this.#queue = new SendQueue(
      (seq, ops) => this.#sendBatch(seq, ops),
      started.lastAppliedSeq + 1,
      this.#retry,
    );
    this.#current = stream;
    this.#finished = this.#pump();
  }

  /** The program's pid. */
  get pid(): number {
    return this.#started.pid;
  }

  /** The tag given at start. */
  get tag(): string | undefined {
    return this.#started.tag;
  }

  /** False for a pipe process (output on `stdout`/`stderr`, input to its stdin). */
  get pty(): boolean {
    return this.#started.pty;
  }

  /** The size when this session attached (absent for a pipe process). */
  get size(): TerminalSize | undefined {
    return this.#started.size;
  }

  /**
   * The next expected output offset of the terminal (or stdout): the last
   * chunk's offset plus its length. Keep it to attach later without replaying
   * what was already seen.
   */
  get offset(): number {
    return this.#expected.get(this.pty ? "pty" : "stdout") ?? 0;
  }

  /** The next expected stderr offset (pipe processes). */
  get stderrOffset(): number {
    return this.#expected.get("stderr") ?? 0;
  }

  /** The sequence number the next input batch will carry. */
  get nextSeq(): number {
    return this.#queue.nextSeq;
  }

  /** Bytes reported lost so far (scrollback overrun on attach). */
  get lostBytes(): number {
    return this.#lostBytes;
  }

  /** The terminal's (or stdout's) output this session kept (at most `keepOutputBytes`). */
  get output(): Uint8Array {
    const main = this.pty ? "pty" : "stdout";
    return this.#log.bytes((e) => e.type === "output" && e.stream === main);
  }

  /** A pipe process's stderr this session kept. */
  get stderr(): Uint8Array {
    return this.#log.bytes((e) => e.type === "output" && e.stream === "stderr");
  }

  /** Types `data`; resolves once the batch carrying it was applied. */
  write(data: string | Uint8Array): Promise<void> {
    return this.#queue.push({ kind: "input", data: typeof data === "string" ? new TextEncoder().encode(data) : data });
  }

  /** Resizes the terminal, in its place among writes and signals. */
  resize(size: TerminalSize): Promise<void> {
    return this.#queue.push({ kind: "resize", cols: size.cols, rows: size.rows });
  }

  /** Sends `signal` to the terminal's process group, in its place among writes and resizes. */
  signal(signal: TerminalSignal): Promise<void> {
    return this.#queue.push({ kind: "signal", signal });
  }

  /**
   * SIGKILLs the process group, after everything queued before. A process
   * already gone counts as killed: a retried kill whose first attempt was
   * applied finds the terminal exited (`not_found`).
   */
  async kill(): Promise<void> {
    try {
      await this.signal("KILL");
    } catch (e) {
      if (!(e instanceof EnvdError && e.code === Code.NotFound)) throw e;
    }
  }

  /** Hangs up: SIGHUP now, SIGKILL after `graceMs` (envd's default 2000). Resolves at once; `wait()` then ends. */
  async close(options: { graceMs?: number | undefined } = {}): Promise<void> {
    await wrapErrors(() =>
      this.#conn.pty.close({ process: toPtySelector(this.pid), graceMs: options.graceMs }, this.#conn.unary({})),
    );
  }

  /** Resolves with the exit once the program ended; rejects if the stream failed for good. */
  async wait(): Promise<TerminalResult> {
    await this.#finished;
    if (this.#exit === undefined) {
      throw this.#failure ?? new EnvdError(Code.Unknown, "the terminal stream ended");
    }
    return { pid: this.pid, ...this.#exit, output: this.output, truncated: this.#log.droppedBytes > 0 };
  }

  /**
   * Output and lost events: those kept (see `keepOutputBytes`), then live ones
   * until the program ends. A reader that falls more than `keepOutputBytes`
   * behind gets a `lost` event for what it missed.
   */
  async *events(): AsyncGenerator<TerminalEvent, void, undefined> {
    let next = this.#log.start;
    let before = this.#log.droppedBytes;
    for (;;) {
      for (let read = this.#log.read(next, before); read !== undefined; read = this.#log.read(next, before)) {
        if (read.kind === "missed") {
          const resume = this.#log.read(this.#log.start, this.#log.droppedBytes);
          const at = resume?.kind === "chunk" ? resume.chunk : undefined;
          next = this.#log.start;
          before = this.#log.droppedBytes;
          yield {
            type: "lost",
            stream: at?.stream ?? "pty",
            lostBytes: read.bytes,
            resumeOffset: at?.type === "output" ? at.offset : at?.resumeOffset ?? 0,
          };
          continue;
        }
        next++;
        before += read.chunk.data.length;
        const { data, ...rest } = read.chunk;
        yield rest.type === "output" ? { ...rest, data } : rest;
      }
      if (this.#exit !== undefined || this.#failure !== undefined || this.#detached) {
        if (this.#failure !== undefined && this.#exit === undefined) throw this.#failure;
        return;
      }
      await new Promise<void>((resolve) => this.#wake.push(resolve));
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<TerminalEvent> {
    return this.events();
  }

  /**
   * Aborts the current output stream as a network failure would; the session
   * then attaches again from its offset by itself. For tests of reconnection
   * (the conformance op `terminal.drop_stream`) and to force a fresh stream.
   */
  dropStream(): void {
    if (this.#current !== undefined) {
      this.#dropping = true;
      this.#current.abort();
    }
  }

  /** Stops reading; the terminal keeps running (attach again to resume). */
  detach(): void {
    this.#detached = true;
    this.#current?.abort();
  }

  async #sendBatch(seq: number, ops: TerminalOp[]): Promise<number> {
    const response = await wrapErrors(() =>
      this.#conn.pty.send(
        { process: toPtySelector(this.pid), seq: BigInt(seq), operations: ops.map(toOperation) },
        this.#conn.unary({}),
      ),
    );
    return Number(response.lastAppliedSeq);
  }

  async #pump(): Promise<void> {
    let failures = 0;
    let delay = this.#retry.initialDelayMs;
    for (;;) {
      let error: EnvdError;
      try {
        if (this.#current === undefined) {
          const stream = openAttach(this.#conn, this.pid, {
            offset: this.#expected.get(this.pty ? "pty" : "stdout"),
            stderrOffset: this.#expected.get("stderr"),
          });
          this.#current = stream;
          await readStarted(stream);
        }
        for await (const message of this.#current.messages) {
          failures = 0;
          delay = this.#retry.initialDelayMs;
          this.#handle(message.event);
        }
        if (this.#exit !== undefined) break;
        error = new EnvdError(Code.Unavailable, "the terminal stream ended without an exit event");
      } catch (e) {
        error = EnvdError.from(e);
      }
      this.#current = undefined;
      if (this.#exit !== undefined) break;
      if (this.#detached) {
        this.#failure = new EnvdError(Code.Canceled, "the session was detached", { cause: error });
        break;
      }
      const dropped = this.#dropping;
      this.#dropping = false;
      if (!dropped && (!isRetryable(error) || ++failures >= this.#retry.attempts)) {
        this.#failure = error;
        break;
      }
      if (!dropped) {
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, this.#retry.maxDelayMs);
      }
    }
    this.#notify();
  }

  #handle(wire: Parameters<typeof fromWire>[0]): void {
    const event = fromWire(wire);
    if (event === undefined || event.type === "started") return;
    if (event.type === "exit") {
      this.#exit = { exitCode: event.exitCode, exited: event.exited, status: event.status, error: event.error };
      this.#notify();
      return;
    }
    if (event.type === "lost") {
      this.#expected.set(event.stream, event.resumeOffset);
      this.#lost(event);
      return;
    }
    const expected = this.#expected.get(event.stream) ?? event.offset;
    const end = event.offset + event.data.length;
    if (end <= expected) return; // Replayed bytes this session already delivered.
    if (event.offset > expected) {
      // envd never skips bytes without a Lost event; if it ever did, say so.
      this.#lost({ type: "lost", stream: event.stream, lostBytes: event.offset - expected, resumeOffset: event.offset });
    }
    const data = event.offset < expected ? event.data.subarray(expected - event.offset) : event.data;
    const chunk: TerminalOutput = { type: "output", stream: event.stream, offset: Math.max(event.offset, expected), data };
    this.#expected.set(event.stream, end);
    this.#log.push(chunk);
    this.#options.onData?.(data, chunk);
    this.#notify();
  }

  #lost(lost: TerminalLost): void {
    this.#lostBytes += lost.lostBytes;
    this.#log.push({ ...lost, data: new Uint8Array() });
    this.#options.onLost?.(lost);
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) w();
  }
}
