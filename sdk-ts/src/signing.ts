/**
 * Signatures for `/files` URLs (spec §6.3), computed with Web Crypto so the
 * same code runs in browsers and Node:
 * `"v1_" + base64_nopad(SHA-256("path:operation:username:token[:expiration]"))`.
 */
import { encodeBase64, utf8 } from "./base64.js";

/** What a signed URL allows. */
export type FileOperation = "read" | "write";

/** The inputs of a `/files` signature. */
export interface SignatureInput {
  /** The raw `path` query value ("" when absent). */
  path: string;
  operation: FileOperation;
  /** The raw `username` query value ("" when absent = default user). */
  username: string;
  /** envd's access token. */
  token: string;
  /** Unix seconds; only signed when present. */
  expiration?: number | undefined;
}

/** Computes the `signature` query value. */
export async function fileSignature(input: SignatureInput): Promise<string> {
  let text = `${input.path}:${input.operation}:${input.username}:${input.token}`;
  if (input.expiration !== undefined) {
    text += `:${input.expiration}`;
  }
  const digest = await globalThis.crypto.subtle.digest("SHA-256", utf8(text));
  return `v1_${encodeBase64(new Uint8Array(digest), false)}`;
}
