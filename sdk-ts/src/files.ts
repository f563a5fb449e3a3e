/**
 * `envd.files`: the filesystem RPCs plus transfers through `/files` (bytes,
 * text and streams, never buffering a whole file for streams) and signed URLs.
 */
import type { UserCallOptions } from "./connection.js";
import { Code, EnvdError } from "./errors.js";
import { Filesystem, requirePath } from "./filesystem.js";
import { buildUrl, send } from "./http.js";
import type { FileOperation } from "./signing.js";
import { fileSignature } from "./signing.js";

/** What `write` accepts. */
export type WriteData = string | Uint8Array | ArrayBuffer | Blob | ReadableStream<Uint8Array>;

/** A written file as envd reports it. */
export interface WriteInfo {
  name: string;
  /** Resolved absolute path. */
  path: string;
  type: "file";
  /** The file's metadata as envd stored it; `{}` when the write sent none. */
  metadata: Record<string, string>;
}

/** Options of {@link Files.write} and {@link Files.writeMany}. */
export interface WriteOptions extends UserCallOptions {
  /**
   * Metadata every written file gets, sent as `X-Metadata-<key>` headers and
   * stored by envd as `user.e2b.<key>` extended attributes. An overwrite
   * replaces the file's whole set, so a write without metadata clears it.
   * Keys are case-insensitive (envd lower-cases them); keys and values must
   * be printable ASCII (a key at most 246 bytes, the whole set at most 4096),
   * else the write fails with `InvalidArgument`: envd's `400 invalid
   * metadata`, or before sending when a key or value cannot be an HTTP header.
   */
  metadata?: Record<string, string> | undefined;
}

/** Options of {@link Files.read}. */
export interface ReadOptions extends UserCallOptions {
  format?: "text" | "bytes" | "stream" | undefined;
}

/** Options of signed URLs. */
export interface SignedUrlOptions {
  /** The user the URL acts as (default: the client's user, else envd's default). */
  user?: string | undefined;
  /** The URL stops working this many seconds from now. */
  expiresInSeconds?: number | undefined;
}

/** Files: RPC operations (inherited) and `/files` transfers. */
export class Files extends Filesystem {
  /** Reads a file as text (UTF-8). */
  read(path: string, options?: ReadOptions & { format?: "text" | undefined }): Promise<string>;
  /** Reads a whole file into memory. */
  read(path: string, options: ReadOptions & { format: "bytes" }): Promise<Uint8Array>;
  /** Streams a file; the body is not buffered. */
  read(path: string, options: ReadOptions & { format: "stream" }): Promise<ReadableStream<Uint8Array>>;
  async read(path: string, options: ReadOptions = {}): Promise<string | Uint8Array | ReadableStream<Uint8Array>> {
    const format = options.format ?? "text";
    const response = await send(this.conn, {
      method: "GET",
      path: "/files",
      query: { path, username: options.user ?? this.conn.user },
      signal: options.signal,
      streamResponse: format === "stream",
    });
    if (format === "stream") {
      return response.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    return format === "bytes" ? bytes : new TextDecoder().decode(bytes);
  }

  /**
   * Writes `data` to `path` (creating parent directories), replacing the
   * file's content. A `ReadableStream` is streamed (Node) without buffering.
   */
  async write(path: string, data: WriteData, options: WriteOptions = {}): Promise<WriteInfo> {
    requirePath(path, "write");
    const metadata = metadataHeaders(options.metadata);
    let body: BodyInit;
    if (data instanceof ReadableStream) {
      body = this.conn.streamingUploads ? data : await new Response(data).blob();
    } else {
      body = data instanceof Uint8Array ? (data as Uint8Array<ArrayBuffer>) : data;
    }
    const response = await send(this.conn, {
      method: "POST",
      path: "/files",
      query: { path, username: options.user ?? this.conn.user },
      headers: { "content-type": "application/octet-stream", ...metadata },
      body,
      signal: options.signal,
      timeoutMs: 0,
    });
    const [entry] = await writeInfos(response);
    if (entry === undefined) {
      throw new EnvdError(Code.Internal, "envd reported no written file");
    }
    return entry;
  }

  /** Writes several files in one multipart request, in order; each gets `options.metadata`. */
  async writeMany(
    files: { path: string; data: string | Uint8Array | Blob }[],
    options: WriteOptions = {},
  ): Promise<WriteInfo[]> {
    const headers = metadataHeaders(options.metadata);
    const form = new FormData();
    for (const file of files) {
      requirePath(file.path, "write");
      const part = file.data instanceof Uint8Array ? (file.data as Uint8Array<ArrayBuffer>) : file.data;
      const blob = part instanceof Blob ? part : new Blob([part]);
      form.append("file", blob, file.path);
    }
    const response = await send(this.conn, {
      method: "POST",
      path: "/files",
      query: { username: options.user ?? this.conn.user },
      headers,
      body: form,
      signal: options.signal,
      timeoutMs: 0,
    });
    return writeInfos(response);
  }

  /**
   * Concatenates `sources`, in order, into `destination` (replacing it,
   * parents created, owned by the user) and then deletes the sources
   * (`POST /files/compose`). The sources must be regular files other than the
   * destination; paths resolve like every other path.
   */
  async compose(sources: string[], destination: string, options: UserCallOptions = {}): Promise<WriteInfo> {
    const username = options.user ?? this.conn.user;
    const response = await send(this.conn, {
      method: "POST",
      path: "/files/compose",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ source_paths: sources, destination, ...(username === undefined ? {} : { username }) }),
      signal: options.signal,
      timeoutMs: 0,
    });
    return toWriteInfo((await response.json()) as unknown);
  }

  /** A URL that downloads `path` without other credentials (signed when envd has a token). */
  downloadUrl(path: string, options: SignedUrlOptions = {}): Promise<string> {
    return this.#signedUrl(path, "read", options);
  }

  /** A URL that accepts an upload to `path` (POST, multipart or octet-stream). */
  uploadUrl(path: string, options: SignedUrlOptions = {}): Promise<string> {
    return this.#signedUrl(path, "write", options);
  }

  async #signedUrl(path: string, operation: FileOperation, options: SignedUrlOptions): Promise<string> {
    const username = options.user ?? this.conn.user;
    const token = this.conn.accessToken;
    const query: Record<string, string | undefined> = { path, username };
    if (token !== undefined) {
      const expiration =
        options.expiresInSeconds === undefined
          ? undefined
          : Math.floor(Date.now() / 1000) + Math.floor(options.expiresInSeconds);
      query["signature"] = await fileSignature({ path, operation, username: username ?? "", token, expiration });
      query["signature_expiration"] = expiration === undefined ? undefined : String(expiration);
    }
    return buildUrl(this.conn.baseUrl, "/files", query);
  }
}

async function writeInfos(response: Response): Promise<WriteInfo[]> {
  const body = (await response.json()) as unknown;
  if (!Array.isArray(body)) {
    throw new EnvdError(Code.Internal, "envd's upload response is not a list");
  }
  return body.map(toWriteInfo);
}

function toWriteInfo(item: unknown): WriteInfo {
  const entry = item as { name?: unknown; path?: unknown; metadata?: unknown };
  const metadata: Record<string, string> = {};
  if (typeof entry.metadata === "object" && entry.metadata !== null) {
    for (const [k, v] of Object.entries(entry.metadata)) {
      metadata[k] = String(v);
    }
  }
  return { name: String(entry.name), path: String(entry.path), type: "file", metadata };
}

/** An HTTP header name's characters (RFC 9110 `token`). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]*$/;
/** What a header value may hold here: printable ASCII and tabs. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/**
 * `X-Metadata-<key>` headers for `metadata`; a key or value that cannot be an
 * HTTP header is refused before anything is sent.
 */
function metadataHeaders(metadata: Record<string, string> | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata ?? {})) {
    if (!HEADER_NAME.test(key)) {
      throw new EnvdError(Code.InvalidArgument, `invalid metadata key ${JSON.stringify(key)}`);
    }
    if (!HEADER_VALUE.test(value)) {
      throw new EnvdError(Code.InvalidArgument, `invalid metadata value for key ${JSON.stringify(key)}`);
    }
    headers[`x-metadata-${key}`] = value;
  }
  return headers;
}
