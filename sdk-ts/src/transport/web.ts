/** The browser runtime: connect-web over `fetch`, uploads as `Blob`s. */
import { createConnectTransport } from "@connectrpc/connect-web";

import type { Runtime } from "./options.js";

/** RPCs through connect-web (binary protobuf over `fetch`). */
export const webRuntime: Runtime = {
  createTransport: (options) =>
    createConnectTransport({
      baseUrl: options.baseUrl,
      useBinaryFormat: true,
      interceptors: options.interceptors,
      fetch: options.fetch,
    }),
  streamingUploads: false,
};
