/**
 * The SDK's one error type. Every failure, RPC or plain HTTP, surfaces as an
 * {@link EnvdError} carrying a Connect {@link Code}; callers branch on `code`
 * (and `httpStatus` for `/files`, `/init` & co.), never on message text.
 */
import { Code, ConnectError } from "@connectrpc/connect";

import { ErrorDetailSchema, ErrorReason } from "./gen/envd/common/v1/error_pb.js";

export { Code, ErrorReason };

/** Connect code names as they appear on the wire (`not_found`, …). */
const CODE_NAMES: Record<Code, string> = {
  [Code.Canceled]: "canceled",
  [Code.Unknown]: "unknown",
  [Code.InvalidArgument]: "invalid_argument",
  [Code.DeadlineExceeded]: "deadline_exceeded",
  [Code.NotFound]: "not_found",
  [Code.AlreadyExists]: "already_exists",
  [Code.PermissionDenied]: "permission_denied",
  [Code.ResourceExhausted]: "resource_exhausted",
  [Code.FailedPrecondition]: "failed_precondition",
  [Code.Aborted]: "aborted",
  [Code.OutOfRange]: "out_of_range",
  [Code.Unimplemented]: "unimplemented",
  [Code.Internal]: "internal",
  [Code.Unavailable]: "unavailable",
  [Code.DataLoss]: "data_loss",
  [Code.Unauthenticated]: "unauthenticated",
};

/** The wire name of a Connect code, e.g. `Code.NotFound` → `"not_found"`. */
export function codeName(code: Code): string {
  return CODE_NAMES[code];
}

/** The code named `name` on the wire (`"not_found"`), as envd's JSON error bodies carry it in `connectCode`. */
export function codeFromName(name: unknown): Code | undefined {
  if (typeof name !== "string") {
    return undefined;
  }
  return CODES_BY_NAME.get(name);
}

/** {@link CODE_NAMES} the other way round. */
const CODES_BY_NAME = new Map<string, Code>(
  (Object.values(Code).filter((c) => typeof c === "number")).map((code) => [CODE_NAMES[code], code]),
);

/**
 * The fallback for a failed plain-HTTP response whose body names no code
 * (`/init`'s plain text, a proxy's 502, an older envd): 400 and 406
 * invalid_argument, 401 unauthenticated, 403 permission_denied, 404
 * not_found, 408 and 504 deadline_exceeded, 409 already_exists, 412
 * failed_precondition, 413, 429 and 507 resource_exhausted, 416
 * out_of_range, 499 canceled, 500 internal, 501 unimplemented, 502 and 503
 * unavailable; anything else unknown. The same table as sdk-rs's, both
 * tested against `conformance/http-status-fallback.json`.
 */
export function codeFromHttpStatus(status: number): Code {
  switch (status) {
    case 400:
    case 406:
      return Code.InvalidArgument;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.NotFound;
    case 408:
    case 504:
      return Code.DeadlineExceeded;
    case 409:
      return Code.AlreadyExists;
    case 412:
      return Code.FailedPrecondition;
    case 413:
    case 429:
    case 507:
      return Code.ResourceExhausted;
    case 416:
      return Code.OutOfRange;
    case 499:
      return Code.Canceled;
    case 500:
      return Code.Internal;
    case 501:
      return Code.Unimplemented;
    case 502:
    case 503:
      return Code.Unavailable;
    default:
      return Code.Unknown;
  }
}

/** Options of {@link EnvdError}. */
export interface EnvdErrorOptions {
  /** HTTP status of a failed plain-HTTP request (`/files`, `/init`, …). */
  httpStatus?: number;
  /** envd's finer reason (from the error detail, or an HTTP body's `reason`). */
  reason?: ErrorReason;
  /** The underlying error, when there is one. */
  cause?: unknown;
}

/** Any failure reported by the SDK. */
export class EnvdError extends Error {
  /** The Connect code (for plain-HTTP failures: the body's `connectCode`, else the status's fallback). */
  readonly code: Code;
  /** HTTP status of a failed plain-HTTP request; absent for RPC failures. */
  readonly httpStatus: number | undefined;
  /**
   * Why, finer than `code` (a missing path and a missing process are both
   * `NotFound`); `ErrorReason.UNSPECIFIED` when envd gave none.
   */
  readonly reason: ErrorReason;

  constructor(code: Code, message: string, options: EnvdErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "EnvdError";
    this.code = code;
    this.httpStatus = options.httpStatus;
    this.reason = options.reason ?? ErrorReason.UNSPECIFIED;
  }

  /** The code's wire name (`"not_found"`, `"unavailable"`, …). */
  get codeName(): string {
    return codeName(this.code);
  }

  /** The reason's proto name (`"ERROR_REASON_PATH_NOT_FOUND"`), absent when unspecified. */
  get reasonName(): string | undefined {
    if (this.reason === ErrorReason.UNSPECIFIED) {
      return undefined;
    }
    // A reason newer than this SDK has no name here.
    const short = (ErrorReason as Record<number, string | undefined>)[this.reason];
    return short === undefined ? undefined : `ERROR_REASON_${short}`;
  }

  /**
   * Converts anything thrown by a transport, `fetch` or a stream into an
   * `EnvdError` (returned unchanged when it already is one).
   */
  static from(reason: unknown): EnvdError {
    if (reason instanceof EnvdError) {
      return reason;
    }
    if (reason instanceof ConnectError) {
      return new EnvdError(reason.code, reason.rawMessage, { cause: reason, reason: reasonOfConnectError(reason) });
    }
    if (isNamed(reason, "TimeoutError")) {
      return new EnvdError(Code.DeadlineExceeded, "the operation timed out", { cause: reason });
    }
    if (isNamed(reason, "AbortError")) {
      return new EnvdError(Code.Canceled, "the operation was aborted", { cause: reason });
    }
    const message = reason instanceof Error ? reason.message : String(reason);
    return new EnvdError(Code.Unavailable, `request failed: ${message}`, { cause: reason });
  }
}

/**
 * The response header in which envd repeats a plain-HTTP error's reason
 * (`ERROR_REASON_…`); exposed to browsers through CORS.
 */
export const REASON_HEADER = "envd-error-reason";

/**
 * The reason of a Connect error: its `ErrorDetail`, else the
 * `envd-error-reason` response header. The header matters when envd answers
 * a streaming RPC with a plain-HTTP error (the access-token guard's 401):
 * Connect reads no body there, and the error's metadata holds only the
 * response headers.
 */
function reasonOfConnectError(error: ConnectError): ErrorReason | undefined {
  const detail = error.findDetails(ErrorDetailSchema)[0];
  if (detail !== undefined && detail.reason !== ErrorReason.UNSPECIFIED) {
    return detail.reason;
  }
  return reasonFromName(error.metadata.get(REASON_HEADER)) ?? detail?.reason;
}

function isNamed(reason: unknown, name: string): boolean {
  return typeof reason === "object" && reason !== null && "name" in reason && reason.name === name;
}

/** The reason named `name` in an HTTP error body (`"ERROR_REASON_…"`). */
export function reasonFromName(name: unknown): ErrorReason | undefined {
  if (typeof name !== "string") {
    return undefined;
  }
  const short = name.replace(/^ERROR_REASON_/, "");
  if (short === name || !Object.hasOwn(ErrorReason, short)) {
    return undefined;
  }
  const reason = ErrorReason[short as keyof typeof ErrorReason];
  return typeof reason === "number" ? reason : undefined;
}

/** Runs `fn`, turning whatever it throws into an {@link EnvdError}. */
export async function wrapErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw EnvdError.from(e);
  }
}
