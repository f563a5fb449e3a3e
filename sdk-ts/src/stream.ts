/**
 * Server streams that never hang silently. envd sends a keepalive after each
 * `Keepalive-Ping-Interval` of silence; {@link watchStream} fails a stream
 * with `unavailable` when nothing at all arrives for 3× that interval.
 */
import { Code, EnvdError, ErrorReason } from "./errors.js";
import type { Connection } from "./connection.js";
import { link } from "./http.js";

/** Call options for a streaming RPC plus the stream's own abort controller. */
export interface OpenedStream<T> {
  /** Messages, with the keepalive watchdog applied and errors as {@link EnvdError}. */
  messages: AsyncGenerator<T, void, undefined>;
  /** Drops the stream (the server-side operation keeps running). */
  abort(): void;
}

/** Options passed to the function that opens the RPC. */
export interface StreamCallOptions {
  signal: AbortSignal;
  headers: Record<string, string>;
  timeoutMs?: number;
}

/**
 * Opens a server stream with the keepalive header and watchdog. `open`
 * receives the call options to pass to the generated client.
 */
export function watchStream<T>(
  conn: Connection,
  open: (options: StreamCallOptions) => AsyncIterable<T>,
  options: { user?: string | undefined; signal?: AbortSignal | undefined; timeoutMs?: number | undefined },
): OpenedStream<T> {
  const controller = new AbortController();
  const unlink = link(options.signal, controller);
  const call: StreamCallOptions = { signal: controller.signal, headers: conn.streamHeaders(options.user) };
  if (options.timeoutMs !== undefined && options.timeoutMs > 0) {
    call.timeoutMs = options.timeoutMs;
  }
  const source = open(call);
  const messages = guard(source, conn.stallMs, conn.keepaliveSeconds, controller, unlink);
  return { messages, abort: () => controller.abort() };
}

async function* guard<T>(
  source: AsyncIterable<T>,
  stallMs: number,
  keepaliveSeconds: number,
  controller: AbortController,
  unlink: () => void,
): AsyncGenerator<T, void, undefined> {
  const iterator = source[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<"stalled">((resolve) => {
        timer = setTimeout(() => resolve("stalled"), stallMs);
      });
      const next = iterator.next();
      const result = await Promise.race([next, stalled]).finally(() => clearTimeout(timer));
      if (result === "stalled") {
        next.catch(() => undefined);
        controller.abort();
        finished = true;
        throw new EnvdError(
          Code.Unavailable,
          `stream stalled: nothing from envd, not even a keepalive, for ${stallMs / 1000} s ` +
            `(3× the ${keepaliveSeconds} s keepalive interval); the connection is presumed dead`,
          { reason: ErrorReason.STREAM_STALLED },
        );
      }
      if (result.done === true) {
        finished = true;
        return;
      }
      yield result.value;
    }
  } catch (e) {
    finished = true;
    throw EnvdError.from(e);
  } finally {
    unlink();
    if (!finished) {
      // The consumer stopped early: drop the call.
      controller.abort();
    }
  }
}
