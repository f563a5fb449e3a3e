/** Standard base64 (RFC 4648 §4) without Node's `Buffer`, for browsers too. */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Encodes `bytes` as standard base64; `pad: false` strips the `=` padding. */
export function encodeBase64(bytes: Uint8Array, pad = true): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const rest = bytes.length - i;
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += ALPHABET.charAt(n >> 18) + ALPHABET.charAt((n >> 12) & 63);
    out += rest > 1 ? ALPHABET.charAt((n >> 6) & 63) : pad ? "=" : "";
    out += rest > 2 ? ALPHABET.charAt(n & 63) : pad ? "=" : "";
  }
  return out;
}

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text);
}
