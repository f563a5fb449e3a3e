/** `envd.pty`: interactive terminals with ordered, coalesced input. */
import { create } from "@bufbuild/protobuf";

import type { Connection, UserCallOptions } from "./connection.js";
import { utf8 } from "./base64.js";
import { wrapErrors } from "./errors.js";
import { ProcessConfigSchema, Signal, StartRequestSchema } from "./gen/process/process_pb.js";
import type { PtyOp } from "./input-queue.js";
import { PtyInputQueue } from "./input-queue.js";
import type { OutputChunk, OutputRetention, ProcessExit } from "./process.js";
import { ProcessStream, readStart, toSelector } from "./process.js";
import { watchStream } from "./stream.js";

/** A terminal size. */
export interface PtySize {
  cols: number;
  rows: number;
}

/** What to start in the terminal. */
export interface PtyOptions extends UserCallOptions, PtySize, OutputRetention {
  /** Program (default `/bin/bash` with `-i -l`). */
  cmd?: string | undefined;
  /** Arguments (default `["-i", "-l"]` when `cmd` is absent, else none). */
  args?: string[] | undefined;
  /** Extra environment (added to `TERM=xterm-256color`, `LANG`/`LC_ALL=C.UTF-8`). */
  envs?: Record<string, string> | undefined;
  /** Working directory (absent → default workdir, else home). */
  cwd?: string | undefined;
  /** A tag to find the terminal by. */
  tag?: string | undefined;
  /** Lifetime limit (0/absent = none). */
  timeoutMs?: number | undefined;
  /** Called with each output chunk as it arrives. */
  onData?: ((data: Uint8Array) => void) | undefined;
}

/** A finished terminal. */
export interface PtyResult extends ProcessExit {
  pid: number;
  /** What the terminal printed since attach (its last `maxOutputBytes` when `truncated`). */
  output: Uint8Array;
  /** Output beyond `maxOutputBytes` was dropped from `output`. */
  truncated: boolean;
}

/** A live terminal. */
export class PtyHandle implements AsyncIterable<Uint8Array> {
  readonly #stream: ProcessStream;
  readonly #queue: PtyInputQueue;

  /** @internal */
  constructor(conn: Connection, stream: ProcessStream, user: string | undefined) {
    this.#stream = stream;
    const selector = toSelector(stream.pid);
    this.#queue = new PtyInputQueue(async (op: PtyOp) => {
      const call = conn.unary({ user });
      await wrapErrors(async () => {
        switch (op.kind) {
          case "input":
            await conn.process.sendInput({ process: selector, input: { input: { case: "pty", value: op.data } } }, call);
            break;
          case "resize":
            await conn.process.update({ process: selector, pty: { size: { cols: op.cols, rows: op.rows } } }, call);
            break;
          case "kill":
            await conn.process.sendSignal({ process: selector, signal: Signal.SIGKILL }, call);
            break;
        }
      });
    });
  }

  /** The shell's pid. */
  get pid(): number {
    return this.#stream.pid;
  }

  /** Output since attach, then live output until the terminal ends. */
  async *output(): AsyncGenerator<Uint8Array, void, undefined> {
    for await (const chunk of this.#stream.output()) {
      yield chunk.data;
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.output();
  }

  /** What was printed so far (at most `maxOutputBytes` of it is held). */
  get received(): Uint8Array {
    return this.#stream.bytes("pty");
  }

  /**
   * Types `data`. Writes queued while one is in flight are merged into the
   * next request; resolves when the request carrying `data` succeeded.
   */
  write(data: string | Uint8Array): Promise<void> {
    return this.#queue.push({ kind: "input", data: typeof data === "string" ? utf8(data) : data });
  }

  /** Resizes the terminal, in order with writes around it. */
  resize(size: PtySize): Promise<void> {
    return this.#queue.push({ kind: "resize", cols: size.cols, rows: size.rows });
  }

  /** SIGKILLs the shell, after every write queued before. */
  kill(): Promise<void> {
    return this.#queue.push({ kind: "kill" });
  }

  /** Waits for the terminal to end. */
  async wait(): Promise<PtyResult> {
    const exit = await this.#stream.exit();
    return { pid: this.pid, ...exit, output: this.received, truncated: this.#stream.truncated };
  }

  /** Drops the stream; the terminal keeps running. */
  disconnect(): void {
    this.#stream.disconnect();
  }
}

/** Terminal sessions. */
export class Pty {
  readonly #conn: Connection;

  /** @internal */
  constructor(conn: Connection) {
    this.#conn = conn;
  }

  /** Starts a terminal of the given size; resolves once it started. */
  async create(options: PtyOptions): Promise<PtyHandle> {
    const request = create(StartRequestSchema, {
      process: create(ProcessConfigSchema, {
        cmd: options.cmd ?? "/bin/bash",
        args: options.args ?? (options.cmd === undefined ? ["-i", "-l"] : []),
        envs: { TERM: "xterm-256color", LANG: "C.UTF-8", LC_ALL: "C.UTF-8", ...options.envs },
        cwd: options.cwd,
      }),
      pty: { size: { cols: options.cols, rows: options.rows } },
      tag: options.tag,
    });
    const stream = watchStream(this.#conn, (call) => this.#conn.process.start(request, call), options);
    const pid = await readStart(stream);
    const onData = options.onData;
    const processStream = new ProcessStream(pid, stream, {}, options);
    if (onData !== undefined) {
      void consume(processStream.output(), (chunk) => onData(chunk.data));
    }
    return new PtyHandle(this.#conn, processStream, options.user);
  }
}

async function consume(chunks: AsyncIterable<OutputChunk>, each: (chunk: OutputChunk) => void): Promise<void> {
  try {
    for await (const chunk of chunks) {
      each(chunk);
    }
  } catch {
    // Failures surface through wait() and output().
  }
}
