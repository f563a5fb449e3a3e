/**
 * What a runtime-specific transport file (`node.ts`, `web.ts`) provides. The
 * two files have the same shape so that their differences show in review.
 */
import type { Interceptor, Transport } from "@connectrpc/connect";

/** Options a runtime transport is built from. */
export interface TransportOptions {
  /** envd's base URL, e.g. `http://127.0.0.1:49983`. */
  baseUrl: string;
  /** Connect interceptors, outermost first. */
  interceptors: Interceptor[];
  /**
   * How long a connection may stay silent before it is presumed dead (the
   * stream watchdog's limit); a transport that can probe connections uses it.
   */
  stallMs: number;
  /** The `fetch` used for plain-HTTP requests (and by the web transport). */
  fetch: typeof globalThis.fetch;
}

/** A runtime: how RPCs are carried and what `fetch` can do there. */
export interface Runtime {
  /** Builds the Connect transport for RPCs. */
  createTransport(options: TransportOptions): Transport;
  /**
   * Whether `fetch` can send a `ReadableStream` request body over envd's
   * HTTP/1.1 listener. When false, streamed uploads are collected into a
   * `Blob` first (browsers only stream request bodies over HTTP/2).
   */
  readonly streamingUploads: boolean;
}
