/**
 * `envd.terminals`: terminal sessions on `envd.pty.v1.Pty` — create, attach
 * (also to a pipe process), list, close, plus the raw `Send` and `Attach`
 * calls for wire-level work.
 */
import type { Connection, UserCallOptions } from "./connection.js";
import { wrapErrors } from "./errors.js";
import type { Selector } from "./process.js";
import { watchStream } from "./stream.js";
import type { TerminalSize, TerminalWireEvent } from "./terminal-events.js";
import { fromWire, openAttach, readStarted, toOperation, toPtySelector } from "./terminal-events.js";
import type { TerminalOp } from "./terminal-queue.js";
import type { SessionOptions } from "./terminal-session.js";
import { TerminalSession } from "./terminal-session.js";

/** What to start in a new terminal. */
export interface TerminalOptions extends SessionOptions, TerminalSize {
  /** Program, looked up in PATH (default: the user's login shell, with `-l` when `args` is empty). */
  cmd?: string | undefined;
  /** Arguments after the program. */
  args?: string[] | undefined;
  /** Environment over envd's defaults (`TERM` defaults to `xterm-256color`). */
  envs?: Record<string, string> | undefined;
  /** Working directory (default: envd's default workdir, else the user's home). */
  cwd?: string | undefined;
  /** A tag to find the terminal by. */
  tag?: string | undefined;
  /** Run as this user instead of the client's. */
  user?: string | undefined;
  /** Cancels the start (not the terminal once started). */
  signal?: AbortSignal | undefined;
}

/** Which process to attach to, and from where. */
export type AttachOptions = SessionOptions & { signal?: AbortSignal | undefined } & (
    | { pid: number; tag?: undefined }
    | { tag: string; pid?: undefined }
  ) & {
    /** Replay the terminal's (or stdout's) output from this offset; absent: all envd still holds. */
    offset?: number | undefined;
    /** A pipe process's stderr offset; absent: all envd still holds. */
    stderrOffset?: number | undefined;
  };

/** A live terminal as `list()` reports it. */
export interface TerminalInfo {
  pid: number;
  tag: string | undefined;
  command: string;
  args: string[];
  size: TerminalSize | undefined;
  /** Bytes of output so far (the offset the next chunk starts at). */
  outputOffset: number;
  lastAppliedSeq: number;
}

/** Terminal sessions. */
export class Terminals {
  readonly #conn: Connection;

  /** @internal */
  constructor(conn: Connection) {
    this.#conn = conn;
  }

  /** Starts a terminal; resolves with its session once envd reports it started. */
  async create(options: TerminalOptions): Promise<TerminalSession> {
    const request = {
      size: { cols: options.cols, rows: options.rows },
      command: options.cmd ?? "",
      args: options.args ?? [],
      envs: options.envs ?? {},
      cwd: options.cwd ?? "",
      tag: options.tag,
      user: options.user ?? "",
    };
    const stream = watchStream(this.#conn, (call) => this.#conn.pty.create(request, call), { signal: options.signal });
    const started = await readStarted(stream);
    return new TerminalSession(this.#conn, stream, started, { offset: 0, stderrOffset: 0 }, options);
  }

  /**
   * A new session on an existing terminal or pipe process: output from
   * `offset` (a `lost` event first if envd no longer holds it), then live;
   * input continues after the last batch envd applied.
   */
  async attach(options: AttachOptions): Promise<TerminalSession> {
    const selector: Selector = options.pid !== undefined ? { pid: options.pid } : { tag: options.tag };
    const offsets = { offset: options.offset, stderrOffset: options.stderrOffset };
    const stream = openAttach(this.#conn, selector, offsets, { signal: options.signal });
    const started = await readStarted(stream);
    return new TerminalSession(this.#conn, stream, started, offsets, options);
  }

  /** Live terminals, by pid. */
  async list(options: UserCallOptions = {}): Promise<TerminalInfo[]> {
    const response = await wrapErrors(() => this.#conn.pty.list({}, this.#conn.unary(options)));
    return response.terminals.map((t) => ({
      pid: t.pid,
      tag: t.tag,
      command: t.command,
      args: t.args,
      size: t.size === undefined ? undefined : { cols: t.size.cols, rows: t.size.rows },
      outputOffset: Number(t.outputOffset),
      lastAppliedSeq: Number(t.lastAppliedSeq),
    }));
  }

  /** Hangs up a terminal: SIGHUP now, SIGKILL after `graceMs` (default 2000). Returns at once. */
  async close(selector: Selector, options: UserCallOptions & { graceMs?: number | undefined } = {}): Promise<void> {
    await wrapErrors(() =>
      this.#conn.pty.close({ process: toPtySelector(selector), graceMs: options.graceMs }, this.#conn.unary(options)),
    );
  }

  /**
   * One raw `Send`: batch `seq` of `ops`, no queueing, merging or retry.
   * Resolves with envd's `last_applied_seq`. For wire-level work; sessions
   * sequence their input themselves.
   */
  async send(selector: Selector, seq: number, ops: TerminalOp[], options: UserCallOptions & { timeoutMs?: number } = {}): Promise<number> {
    const call = this.#conn.unary(options);
    if (options.timeoutMs !== undefined) call.timeoutMs = options.timeoutMs;
    const response = await wrapErrors(() =>
      this.#conn.pty.send({ process: toPtySelector(selector), seq: BigInt(seq), operations: ops.map(toOperation) }, call),
    );
    return Number(response.lastAppliedSeq);
  }

  /**
   * One raw `Attach`: its events as they come (started, output, lost, exit),
   * with no offset tracking or reattach. Ends after the exit event.
   */
  async *events(
    selector: Selector,
    options: { offset?: number | undefined; stderrOffset?: number | undefined; signal?: AbortSignal | undefined } = {},
  ): AsyncGenerator<TerminalWireEvent, void, undefined> {
    const stream = openAttach(this.#conn, selector, options, { signal: options.signal });
    for await (const message of stream.messages) {
      const event = fromWire(message.event);
      if (event !== undefined) yield event;
    }
  }
}
