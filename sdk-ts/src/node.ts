/**
 * `@envd/sdk` for Node (≥ 20): RPCs through connect-node, streamed uploads.
 * Same API as the browser entry.
 */
import { EnvdClient } from "./client.js";
import type { EnvdOptions } from "./connection.js";
import { nodeRuntime } from "./transport/node.js";

export * from "./api.js";

/** A client for one envd: `new Envd({ url, accessToken, user })`. */
export class Envd extends EnvdClient {
  constructor(options: EnvdOptions) {
    super(options, nodeRuntime);
  }
}
