/**
 * The Node runtime: connect-node over h2c (HTTP/2 without TLS, which envd
 * serves on its one listener), streamed `fetch` uploads.
 *
 * Why HTTP/2: envd rejects unauthenticated requests (bad token, unknown
 * user) without reading their body; over HTTP/1.1 it then closes the
 * connection and Node's client reports `EPIPE` instead of the error. HTTP/2
 * delivers the response. Idle connections are PINGed so a dead one is
 * replaced instead of hanging new calls.
 */
import { createConnectTransport } from "@connectrpc/connect-node";

import type { Runtime } from "./options.js";

/** RPCs through connect-node (binary protobuf over h2c). */
export const nodeRuntime: Runtime = {
  createTransport: (options) =>
    createConnectTransport({
      baseUrl: options.baseUrl,
      httpVersion: "2",
      useBinaryFormat: true,
      interceptors: options.interceptors,
      pingIntervalMs: options.stallMs,
      pingTimeoutMs: options.stallMs,
    }),
  streamingUploads: true,
};
