/**
 * The state every API area shares: base URL, token, default user, RPC
 * clients, `fetch`, timeouts. Internal: not exported from the package.
 */
import type { Client, Interceptor } from "@connectrpc/connect";
import { createClient } from "@connectrpc/connect";

import { encodeBase64, utf8 } from "./base64.js";
import { Pty as PtyService } from "./gen/envd/pty/v1/pty_pb.js";
import { Filesystem } from "./gen/filesystem/filesystem_pb.js";
import { Process } from "./gen/process/process_pb.js";
import type { Runtime } from "./transport/options.js";

/** How to reach envd. */
export interface EnvdOptions {
  /** envd's base URL, e.g. `http://127.0.0.1:49983`. */
  url: string;
  /** Access token (`X-Access-Token`), when envd has one (see `init`). */
  accessToken?: string | undefined;
  /**
   * User to act as (`Authorization: Basic` for RPCs, `username` for `/files`);
   * absent → envd's default user.
   */
  user?: string | undefined;
  /**
   * Keepalive interval asked of envd on streams (sent in whole seconds, at
   * least 1). A stream that receives nothing for 3× this fails with
   * `unavailable`. Default 50 000 (what the E2B SDKs send).
   */
  keepaliveIntervalMs?: number | undefined;
  /** Deadline of unary RPCs and small HTTP requests. Default 60 000; 0 = none. */
  requestTimeoutMs?: number | undefined;
  /** `fetch` to use (default: the global one). */
  fetch?: typeof globalThis.fetch | undefined;
  /** Connect interceptors for every RPC (logging, tracing, tests). */
  interceptors?: Interceptor[] | undefined;
}

/** Per-call options every operation takes. */
export interface CallOptions {
  /** Cancels the operation. */
  signal?: AbortSignal | undefined;
}

/** Per-call options of operations that act as a user. */
export interface UserCallOptions extends CallOptions {
  /** Act as this user instead of the client's. */
  user?: string | undefined;
}

/** Options handed to a generated client's unary method. */
export interface UnaryCallOptions {
  headers: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs?: number;
}

const DEFAULT_KEEPALIVE_MS = 50_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/** Shared connection state. */
export class Connection {
  readonly baseUrl: string;
  readonly user: string | undefined;
  readonly keepaliveSeconds: number;
  readonly requestTimeoutMs: number;
  readonly fetch: typeof globalThis.fetch;
  readonly streamingUploads: boolean;
  readonly process: Client<typeof Process>;
  readonly filesystem: Client<typeof Filesystem>;
  readonly pty: Client<typeof PtyService>;
  #token: string | undefined;

  constructor(options: EnvdOptions, runtime: Runtime) {
    this.baseUrl = options.url.replace(/\/+$/, "");
    this.user = options.user;
    this.#token = options.accessToken ?? undefined;
    const keepaliveMs = options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_MS;
    this.keepaliveSeconds = Math.max(1, Math.ceil(keepaliveMs / 1000));
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const userFetch = options.fetch;
    this.fetch = userFetch ?? ((input, init) => globalThis.fetch(input, init));
    this.streamingUploads = runtime.streamingUploads;
    const transport = runtime.createTransport({
      baseUrl: this.baseUrl,
      interceptors: [...(options.interceptors ?? []), this.#authInterceptor()],
      stallMs: this.stallMs,
      fetch: this.fetch,
    });
    this.process = createClient(Process, transport);
    this.filesystem = createClient(Filesystem, transport);
    this.pty = createClient(PtyService, transport);
  }

  /** The current access token (replaced by `init`). */
  get accessToken(): string | undefined {
    return this.#token;
  }

  set accessToken(token: string | undefined) {
    this.#token = token;
  }

  /** How long a stream may stay silent before it is declared dead. */
  get stallMs(): number {
    return 3 * this.keepaliveSeconds * 1000;
  }

  /** Headers of an RPC acting as `user` (or the client's user). */
  rpcHeaders(user: string | undefined): Record<string, string> {
    const name = user ?? this.user;
    return name === undefined ? {} : { authorization: `Basic ${encodeBase64(utf8(`${name}:`))}` };
  }

  /** Call options of a unary RPC: user header, cancellation, deadline. */
  unary(options: UserCallOptions): UnaryCallOptions {
    const call: UnaryCallOptions = { headers: this.rpcHeaders(options.user) };
    if (options.signal !== undefined) {
      call.signal = options.signal;
    }
    if (this.requestTimeoutMs > 0) {
      call.timeoutMs = this.requestTimeoutMs;
    }
    return call;
  }

  /** Headers of a streaming RPC: user plus the keepalive interval. */
  streamHeaders(user: string | undefined): Record<string, string> {
    return { ...this.rpcHeaders(user), "keepalive-ping-interval": String(this.keepaliveSeconds) };
  }

  /** Headers of a plain-HTTP request. */
  httpHeaders(): Record<string, string> {
    return this.#token === undefined ? {} : { "x-access-token": this.#token };
  }

  /** Adds `X-Access-Token` (read at call time, so `init` can change it). */
  #authInterceptor(): Interceptor {
    return (next) => (request) => {
      const token = this.#token;
      if (token !== undefined) {
        request.header.set("x-access-token", token);
      }
      return next(request);
    };
  }
}
