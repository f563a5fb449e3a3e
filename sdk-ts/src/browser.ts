/**
 * `@envd/sdk` for browsers (and any runtime with `fetch` and Web Crypto):
 * RPCs through connect-web. Same API as the Node entry.
 */
import { EnvdClient } from "./client.js";
import type { EnvdOptions } from "./connection.js";
import { webRuntime } from "./transport/web.js";

export * from "./api.js";

/** A client for one envd: `new Envd({ url, accessToken, user })`. */
export class Envd extends EnvdClient {
  constructor(options: EnvdOptions) {
    super(options, webRuntime);
  }
}
