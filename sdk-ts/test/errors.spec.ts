/** The error type's mappings, without a server. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import { Code, ConnectError } from "@connectrpc/connect";

import { reasonFromName } from "../src/errors.js";
import { errorFromResponse } from "../src/http.js";
import { ErrorDetailSchema } from "../src/gen/envd/common/v1/error_pb.js";
import { EnvdError, ErrorReason, codeFromHttpStatus, codeFromName, codeName } from "../src/node.js";

describe("EnvdError", () => {
  it("falls back from HTTP statuses by the shared table, status for status", () => {
    const shared = JSON.parse(readFileSync(new URL("../../conformance/http-status-fallback.json", import.meta.url), "utf8")) as {
      codes: Record<string, string>;
      otherwise: string;
    };
    for (let status = 100; status <= 599; status++) {
      assert.equal(codeName(codeFromHttpStatus(status)), shared.codes[String(status)] ?? shared.otherwise, `HTTP ${status}`);
    }
  });

  it("takes a plain-HTTP failure's code from the body, else from the status", async () => {
    const json = (body: unknown, status: number) => new Response(JSON.stringify(body), { status });
    const named = await errorFromResponse(
      json({ code: 409, connectCode: "failed_precondition", message: "not yet", reason: "ERROR_REASON_NOT_INITIALIZED" }, 409),
    );
    assert.equal(named.code, Code.FailedPrecondition);
    assert.equal(named.httpStatus, 409);
    assert.equal(named.message, "not yet");
    assert.equal(named.reason, ErrorReason.NOT_INITIALIZED);
    // E2B's body (no connectCode), plain text and an unknown name: the status decides.
    assert.equal((await errorFromResponse(json({ code: 409, message: "exists" }, 409))).code, Code.AlreadyExists);
    assert.equal((await errorFromResponse(new Response("bad token", { status: 401 }))).code, Code.Unauthenticated);
    assert.equal((await errorFromResponse(json({ code: 404, connectCode: "nope", message: "x" }, 404))).code, Code.NotFound);
  });

  it("reads code names as on the wire", () => {
    for (const code of Object.values(Code).filter((c) => typeof c === "number")) {
      assert.equal(codeFromName(codeName(code)), code);
    }
    assert.equal(codeFromName("NOT_FOUND"), undefined);
    assert.equal(codeFromName(404), undefined);
  });

  it("names codes as on the wire", () => {
    assert.equal(codeName(Code.NotFound), "not_found");
    assert.equal(codeName(Code.DeadlineExceeded), "deadline_exceeded");
    assert.equal(new EnvdError(Code.Unavailable, "x").codeName, "unavailable");
  });

  it("keeps Connect's code and raw message, and reads reasons by name", () => {
    const e = EnvdError.from(new ConnectError("no such thing", Code.NotFound));
    assert.equal(e.code, Code.NotFound);
    assert.equal(e.message, "no such thing");
    assert.equal(e.httpStatus, undefined);
    assert.equal(e.reason, ErrorReason.UNSPECIFIED);
    assert.equal(e.reasonName, undefined);
    assert.equal(reasonFromName("ERROR_REASON_NO_SPACE"), ErrorReason.NO_SPACE);
    assert.equal(reasonFromName("NO_SPACE"), undefined);
    assert.equal(reasonFromName("ERROR_REASON_NOPE"), undefined);
    assert.equal(new EnvdError(Code.Internal, "x", { reason: ErrorReason.NO_SPACE }).reasonName, "ERROR_REASON_NO_SPACE");
  });

  it("falls back to the envd-error-reason header when a Connect error has no detail", () => {
    // What connect-es makes of a plain-HTTP 401 to a streaming RPC: the body
    // is not read, the metadata holds the response headers.
    const headers = new Headers({ "content-type": "application/json", "envd-error-reason": "ERROR_REASON_ACCESS_TOKEN_INVALID" });
    const fromHeader = EnvdError.from(new ConnectError("HTTP 401", Code.Unauthenticated, headers));
    assert.equal(fromHeader.code, Code.Unauthenticated);
    assert.equal(fromHeader.reason, ErrorReason.ACCESS_TOKEN_INVALID);
    assert.equal(fromHeader.reasonName, "ERROR_REASON_ACCESS_TOKEN_INVALID");

    // The detail wins over the header.
    const detailed = new ConnectError("HTTP 401", Code.Unauthenticated, headers, [
      { desc: ErrorDetailSchema, value: { reason: ErrorReason.UNKNOWN_USER } },
    ]);
    assert.equal(EnvdError.from(detailed).reason, ErrorReason.UNKNOWN_USER);

    // An unknown or malformed header value is no reason.
    for (const value of ["ERROR_REASON_FROM_THE_FUTURE", "ACCESS_TOKEN_INVALID", ""]) {
      const e = EnvdError.from(new ConnectError("HTTP 401", Code.Unauthenticated, new Headers({ "envd-error-reason": value })));
      assert.equal(e.reason, ErrorReason.UNSPECIFIED, value);
    }
  });

  it("classifies aborts, timeouts and network failures", () => {
    assert.equal(EnvdError.from(new DOMException("x", "AbortError")).code, Code.Canceled);
    assert.equal(EnvdError.from(new DOMException("x", "TimeoutError")).code, Code.DeadlineExceeded);
    assert.equal(EnvdError.from(new TypeError("fetch failed")).code, Code.Unavailable);
  });
});
