/** `envd.commands`: run, spawn, connect to, list and signal processes. */
import { create } from "@bufbuild/protobuf";

import type { Connection, UserCallOptions } from "./connection.js";
import { utf8 } from "./base64.js";
import { Code, EnvdError, wrapErrors } from "./errors.js";
import { ProcessConfigSchema, Signal, StartRequestSchema } from "./gen/process/process_pb.js";
import type { OutputCallbacks, OutputChunk, OutputRetention, ProcessExit, Selector } from "./process.js";
import { ProcessStream, readStart, toSelector } from "./process.js";
import { watchStream } from "./stream.js";

/** What to start. */
export interface ProcessOptions extends UserCallOptions, OutputCallbacks, OutputRetention {
  /** Arguments (the command is not run through a shell). */
  args?: string[] | undefined;
  /** Extra environment variables. */
  envs?: Record<string, string> | undefined;
  /** Working directory (absent → envd's default workdir, else the user's home). */
  cwd?: string | undefined;
  /** A tag to find the process by later (`connect({ tag })`). */
  tag?: string | undefined;
  /**
   * Lifetime limit: envd kills the process when it passes, and the stream
   * fails with `deadline_exceeded`. 0 = none.
   */
  timeoutMs?: number | undefined;
}

/** Options of {@link Commands.spawn}. */
export interface SpawnOptions extends ProcessOptions {
  /** Keep stdin open for {@link CommandHandle.sendStdin} (default false). */
  stdin?: boolean | undefined;
}

/** Options of {@link Commands.run}. */
export interface RunOptions extends ProcessOptions {
  /** Sent to the process's stdin, which is then closed. */
  stdin?: string | Uint8Array | undefined;
}

/** A finished command. A non-zero exit code is a result, not an error. */
export interface CommandResult extends ProcessExit {
  pid: number;
  /** Stdout since attach (its last `maxOutputBytes` when `truncated`). */
  stdout: string;
  /** Stderr since attach (likewise). */
  stderr: string;
  /** Output beyond `maxOutputBytes` was dropped from `stdout`/`stderr`. */
  truncated: boolean;
}

/** A live process as `list()` reports it. */
export interface ProcessInfo {
  pid: number;
  tag: string | undefined;
  cmd: string;
  args: string[];
  envs: Record<string, string>;
  cwd: string | undefined;
}

/** Signals envd can deliver. */
export type SignalName = "SIGTERM" | "SIGKILL";

/** How long `run` waits for the end after its input could not be delivered. */
const STDIN_GRACE_MS = 1000;

/** Default lifetime of `run` (`spawn` has none). */
const RUN_TIMEOUT_MS = 60_000;

/** A running (or finished) process attached to by `spawn` or `connect`. */
export class CommandHandle implements AsyncIterable<OutputChunk> {
  readonly #conn: Connection;
  readonly #stream: ProcessStream;
  readonly #user: string | undefined;

  /** @internal */
  constructor(conn: Connection, stream: ProcessStream, user: string | undefined) {
    this.#conn = conn;
    this.#stream = stream;
    this.#user = user;
  }

  /** The process id. */
  get pid(): number {
    return this.#stream.pid;
  }

  /** Stdout received since attach (at most `maxOutputBytes` of output held). */
  get stdout(): string {
    return this.#stream.text("stdout");
  }

  /** Stderr received since attach. */
  get stderr(): string {
    return this.#stream.text("stderr");
  }

  /** Output chunks since attach, then live ones until the process ends. */
  output(): AsyncGenerator<OutputChunk, void, undefined> {
    return this.#stream.output();
  }

  [Symbol.asyncIterator](): AsyncIterator<OutputChunk> {
    return this.output();
  }

  /** Waits for the end; rejects only when the stream itself fails. */
  async wait(): Promise<CommandResult> {
    const exit = await this.#stream.exit();
    return { pid: this.pid, ...exit, stdout: this.stdout, stderr: this.stderr, truncated: this.#stream.truncated };
  }

  /** Writes to the process's stdin (spawned with `stdin: true`). */
  sendStdin(data: string | Uint8Array): Promise<void> {
    return sendStdin(this.#conn, this.pid, data, this.#user);
  }

  /** Closes stdin (EOF). */
  closeStdin(): Promise<void> {
    return closeStdin(this.#conn, this.pid, this.#user);
  }

  /** SIGKILLs the process; false if it was already gone. */
  kill(): Promise<boolean> {
    return kill(this.#conn, this.pid, this.#user);
  }

  /** Drops the stream; the process keeps running. */
  disconnect(): void {
    this.#stream.disconnect();
  }
}

/** Process control. */
export class Commands {
  readonly #conn: Connection;

  /** @internal */
  constructor(conn: Connection) {
    this.#conn = conn;
  }

  /**
   * Runs `cmd` to completion and collects its output. Default timeout 60 s
   * (`timeoutMs: 0` = none).
   */
  async run(cmd: string, options: RunOptions = {}): Promise<CommandResult> {
    const { stdin, ...rest } = options;
    const handle = await this.spawn(cmd, {
      ...rest,
      stdin: stdin !== undefined,
      timeoutMs: options.timeoutMs ?? RUN_TIMEOUT_MS,
    });
    if (stdin !== undefined) {
      try {
        if ((typeof stdin === "string" ? stdin.length : stdin.byteLength) > 0) {
          await handle.sendStdin(stdin);
        }
        await handle.closeStdin();
      } catch (e) {
        // A process may exit without reading its input: then its result
        // stands. Otherwise the input failure is the error.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const ended = await Promise.race([
          handle.wait().then(
            () => true,
            () => false,
          ),
          new Promise<false>((resolve) => {
            timer = setTimeout(() => resolve(false), STDIN_GRACE_MS);
          }),
        ]).finally(() => clearTimeout(timer));
        if (!ended) {
          handle.disconnect();
          throw e;
        }
      }
    }
    return handle.wait();
  }

  /** Starts `cmd` and resolves once envd reports it started. */
  async spawn(cmd: string, options: SpawnOptions = {}): Promise<CommandHandle> {
    const request = create(StartRequestSchema, {
      process: create(ProcessConfigSchema, {
        cmd,
        args: options.args ?? [],
        envs: options.envs ?? {},
        cwd: options.cwd,
      }),
      tag: options.tag,
      stdin: options.stdin ?? false,
    });
    const stream = watchStream(this.#conn, (call) => this.#conn.process.start(request, call), options);
    const pid = await readStart(stream);
    return new CommandHandle(this.#conn, new ProcessStream(pid, stream, options, options), options.user);
  }

  /** Attaches to a running process: output from now on (no replay), then its end. */
  async connect(
    selector: Selector,
    options: UserCallOptions & OutputCallbacks & OutputRetention = {},
  ): Promise<CommandHandle> {
    const stream = watchStream(
      this.#conn,
      (call) => this.#conn.process.connect({ process: toSelector(selector) }, call),
      options,
    );
    const pid = await readStart(stream);
    return new CommandHandle(this.#conn, new ProcessStream(pid, stream, options, options), options.user);
  }

  /** Live processes. */
  async list(options: UserCallOptions = {}): Promise<ProcessInfo[]> {
    const response = await wrapErrors(() => this.#conn.process.list({}, this.#conn.unary(options)));
    return response.processes.map((p) => ({
      pid: p.pid,
      tag: p.tag,
      cmd: p.config?.cmd ?? "",
      args: p.config?.args ?? [],
      envs: p.config?.envs ?? {},
      cwd: p.config?.cwd,
    }));
  }

  /** Writes to a process's stdin. */
  sendStdin(selector: Selector, data: string | Uint8Array, options: UserCallOptions = {}): Promise<void> {
    return sendStdin(this.#conn, selector, data, options.user, options.signal);
  }

  /** Closes a process's stdin. */
  closeStdin(selector: Selector, options: UserCallOptions = {}): Promise<void> {
    return closeStdin(this.#conn, selector, options.user, options.signal);
  }

  /** Sends SIGTERM or SIGKILL to the process (not its group). */
  async signal(selector: Selector, signal: SignalName, options: UserCallOptions = {}): Promise<void> {
    await wrapErrors(() =>
      this.#conn.process.sendSignal(
        { process: toSelector(selector), signal: signal === "SIGKILL" ? Signal.SIGKILL : Signal.SIGTERM },
        this.#conn.unary(options),
      ),
    );
  }

  /** SIGKILLs the process; false when there is no such process. */
  kill(selector: Selector, options: UserCallOptions = {}): Promise<boolean> {
    return kill(this.#conn, selector, options.user, options.signal);
  }
}

async function sendStdin(
  conn: Connection,
  selector: Selector,
  data: string | Uint8Array,
  user: string | undefined,
  signal?: AbortSignal,
): Promise<void> {
  const bytes = typeof data === "string" ? utf8(data) : data;
  await wrapErrors(() =>
    conn.process.sendInput(
      { process: toSelector(selector), input: { input: { case: "stdin", value: bytes } } },
      conn.unary({ user, signal }),
    ),
  );
}

async function closeStdin(conn: Connection, selector: Selector, user: string | undefined, signal?: AbortSignal): Promise<void> {
  await wrapErrors(() => conn.process.closeStdin({ process: toSelector(selector) }, conn.unary({ user, signal })));
}

/** SIGKILL; NotFound means "already gone" → false. */
export async function kill(
  conn: Connection,
  selector: Selector,
  user: string | undefined,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    await wrapErrors(() =>
      conn.process.sendSignal({ process: toSelector(selector), signal: Signal.SIGKILL }, conn.unary({ user, signal })),
    );
    return true;
  } catch (e) {
    if (e instanceof EnvdError && e.code === Code.NotFound) {
      return false;
    }
    throw e;
  }
}
