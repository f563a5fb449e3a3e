/**
 * Plain-HTTP requests to envd (`/health`, `/files`, `/init`, …): auth header,
 * deadline, cancellation, and the one mapping of failed responses to
 * {@link EnvdError} (status → code, body `{"code","message"}` → message, body
 * `"reason"` or the `envd-error-reason` header → reason).
 */
import type { ErrorReason } from "./errors.js";
import { Code, EnvdError, REASON_HEADER, codeFromHttpStatus, codeFromName, reasonFromName } from "./errors.js";
import type { Connection } from "./connection.js";

/** One plain-HTTP request. */
export interface HttpRequest {
  method: "GET" | "POST";
  /** Path below the base URL, e.g. `/files`. */
  path: string;
  /** Query parameters; `undefined` values are left out. */
  query?: Record<string, string | undefined>;
  headers?: Record<string, string>;
  body?: BodyInit | undefined;
  signal?: AbortSignal | undefined;
  /**
   * Deadline for the whole exchange; for transfers it covers only the
   * response headers (0 = none). Default: the connection's request timeout.
   */
  timeoutMs?: number;
  /** The body is consumed by the caller (a download): the deadline ends with the headers. */
  streamResponse?: boolean;
}

/** Builds `base + path?query` with every value percent-encoded. */
export function buildUrl(baseUrl: string, path: string, query: Record<string, string | undefined> = {}): string {
  const pairs = Object.entries(query)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  return `${baseUrl}${path}${pairs.length > 0 ? `?${pairs.join("&")}` : ""}`;
}

/** Sends `request`; resolves with a 2xx response, rejects with an {@link EnvdError}. */
export async function send(conn: Connection, request: HttpRequest): Promise<Response> {
  const controller = new AbortController();
  const unlink = link(request.signal, controller);
  const timeoutMs = request.timeoutMs ?? conn.requestTimeoutMs;
  const deadline = { passed: false };
  const timer =
    timeoutMs > 0
      ? setTimeout(() => {
          deadline.passed = true;
          controller.abort();
        }, timeoutMs)
      : undefined;
  try {
    const init: RequestInit & { duplex?: "half" } = {
      method: request.method,
      headers: { ...conn.httpHeaders(), ...request.headers },
      signal: controller.signal,
    };
    if (request.body !== undefined) {
      init.body = request.body;
      if (request.body instanceof ReadableStream) {
        init.duplex = "half";
      }
    }
    const response = await conn.fetch(buildUrl(conn.baseUrl, request.path, request.query), init);
    if (!response.ok) {
      throw await errorFromResponse(response);
    }
    if (!request.streamResponse) {
      // Read small bodies under the deadline.
      const body = await response.arrayBuffer();
      const empty = response.status === 204 || response.status === 205 || response.status === 304;
      return new Response(empty ? null : body, { status: response.status, headers: response.headers });
    }
    return response;
  } catch (e) {
    if (deadline.passed) {
      throw new EnvdError(Code.DeadlineExceeded, `${request.method} ${request.path}: no response within ${timeoutMs} ms`, {
        cause: e,
      });
    }
    throw EnvdError.from(e);
  } finally {
    clearTimeout(timer);
    if (!request.streamResponse) {
      unlink();
    }
  }
}

/** The typed error of a non-2xx response; never parses the message for meaning. */
export async function errorFromResponse(response: Response): Promise<EnvdError> {
  const status = response.status;
  let message = `HTTP ${status}${response.statusText ? ` ${response.statusText}` : ""}`;
  let reason: ErrorReason | undefined;
  let code: Code | undefined;
  try {
    const text = await response.text();
    if (text.length > 0) {
      message = text;
      try {
        const body = JSON.parse(text) as unknown;
        if (typeof body === "object" && body !== null) {
          if ("message" in body && typeof body.message === "string") {
            message = body.message;
          }
          if ("reason" in body) {
            reason = reasonFromName(body.reason);
          }
          if ("connectCode" in body) {
            code = codeFromName(body.connectCode);
          }
        }
      } catch {
        // A plain-text body is the message itself.
      }
    }
  } catch {
    // The body could not be read; keep the status line.
  }
  // envd repeats the body's reason in a header; it is there even when the body is not.
  reason ??= reasonFromName(response.headers.get(REASON_HEADER));
  return new EnvdError(code ?? codeFromHttpStatus(status), message, reason === undefined ? { httpStatus: status } : { httpStatus: status, reason });
}

/** Aborts `controller` when `signal` aborts; returns the unlinking function. */
export function link(signal: AbortSignal | undefined, controller: AbortController): () => void {
  if (signal === undefined) {
    return () => undefined;
  }
  if (signal.aborted) {
    controller.abort(signal.reason);
    return () => undefined;
  }
  const onAbort = (): void => controller.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  return () => signal.removeEventListener("abort", onAbort);
}
