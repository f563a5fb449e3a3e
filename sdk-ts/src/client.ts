/** The client: one envd, its API areas, and the plain-HTTP endpoints. */
import { Commands } from "./commands.js";
import type { CallOptions, EnvdOptions } from "./connection.js";
import { Connection } from "./connection.js";
import { Code, EnvdError } from "./errors.js";
import { Files } from "./files.js";
import { send } from "./http.js";
import { Pty } from "./pty.js";
import { Terminals } from "./terminal.js";
import type { Runtime } from "./transport/options.js";

/** `GET /metrics`, field names as on the wire. */
export interface Metrics {
  ts: number;
  cpu_count: number;
  cpu_used_pct: number;
  mem_total: number;
  mem_used: number;
  mem_total_mib: number;
  mem_used_mib: number;
  disk_total: number;
  disk_used: number;
  [key: string]: unknown;
}

/** `POST /init` settings; absent fields are left as they are. */
export interface InitOptions extends CallOptions {
  /** New access token; the client uses it from then on. */
  accessToken?: string | undefined;
  /** Default environment variables (merged). */
  envVars?: Record<string, string> | undefined;
  /** Default user for processes and paths. */
  defaultUser?: string | undefined;
  /** Default working directory (used for empty paths and cwd). */
  defaultWorkdir?: string | undefined;
  /** Idempotence guard: settings older than the newest applied are skipped. */
  timestamp?: Date | string | undefined;
}

/** A client for one envd. Build it with the `Envd` class of your runtime's entry. */
export class EnvdClient {
  /** Processes. */
  readonly commands: Commands;
  /** Filesystem and file transfers. */
  readonly files: Files;
  /** PTYs over `process.Process` (E2B-compatible). */
  readonly pty: Pty;
  /** Terminal sessions over `envd.pty.v1.Pty`: sequenced input, offset replay, reattach. */
  readonly terminals: Terminals;
  readonly #conn: Connection;

  /** @internal Use `new Envd(options)` from `@envd/sdk`. */
  constructor(options: EnvdOptions, runtime: Runtime) {
    if (typeof options.url !== "string" || options.url.length === 0) {
      throw new EnvdError(Code.InvalidArgument, "an envd url is required");
    }
    this.#conn = new Connection(options, runtime);
    this.commands = new Commands(this.#conn);
    this.files = new Files(this.#conn);
    this.pty = new Pty(this.#conn);
    this.terminals = new Terminals(this.#conn);
  }

  /** envd's base URL. */
  get url(): string {
    return this.#conn.baseUrl;
  }

  /** The access token in use (set by the options or by `init`). */
  get accessToken(): string | undefined {
    return this.#conn.accessToken;
  }

  /** `GET /health`: envd's version. */
  async health(options: CallOptions = {}): Promise<{ version: string }> {
    const body = await this.#json("/health", options);
    const version = typeof body === "object" && body !== null && "version" in body ? body.version : undefined;
    if (typeof version !== "string") {
      throw new EnvdError(Code.Internal, "envd's /health carries no version");
    }
    return { version };
  }

  /** `GET /metrics`: CPU, memory and disk usage. */
  async metrics(options: CallOptions = {}): Promise<Metrics> {
    return (await this.#json("/metrics", options)) as Metrics;
  }

  /** `GET /envs`: envd's default environment variables. */
  async envs(options: CallOptions = {}): Promise<Record<string, string>> {
    return (await this.#json("/envs", options)) as Record<string, string>;
  }

  /** `POST /init`: sets the token, defaults and env vars. */
  async init(options: InitOptions = {}): Promise<void> {
    const body: Record<string, unknown> = {};
    if (options.accessToken !== undefined) body["accessToken"] = options.accessToken;
    if (options.envVars !== undefined) body["envVars"] = options.envVars;
    if (options.defaultUser !== undefined) body["defaultUser"] = options.defaultUser;
    if (options.defaultWorkdir !== undefined) body["defaultWorkdir"] = options.defaultWorkdir;
    if (options.timestamp !== undefined) {
      body["timestamp"] = options.timestamp instanceof Date ? options.timestamp.toISOString() : options.timestamp;
    }
    await send(this.#conn, {
      method: "POST",
      path: "/init",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: options.signal,
    });
    if (options.accessToken !== undefined) {
      this.#conn.accessToken = options.accessToken;
    }
  }

  /** `POST /snapshot/prepare`: quiesce before the VM is snapshotted. */
  async prepareSnapshot(options: CallOptions = {}): Promise<void> {
    await send(this.#conn, { method: "POST", path: "/snapshot/prepare", signal: options.signal });
  }

  async #json(path: string, options: CallOptions): Promise<unknown> {
    const response = await send(this.#conn, { method: "GET", path, signal: options.signal });
    try {
      return (await response.json()) as unknown;
    } catch (e) {
      throw new EnvdError(Code.Internal, `envd's ${path} is not JSON`, { cause: e });
    }
  }
}
