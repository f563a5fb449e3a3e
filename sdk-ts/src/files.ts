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
  async write(path: string, data: WriteData, options: UserCallOptions = {}): Promise<WriteInfo> {
    requirePath(path, "write");
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
      headers: { "content-type": "application/octet-stream" },
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

  /** Writes several files in one multipart request, in order. */
  async writeMany(
    files: { path: string; data: string | Uint8Array | Blob }[],
    options: UserCallOptions = {},
  ): Promise<WriteInfo[]> {
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
      body: form,
      signal: options.signal,
      timeoutMs: 0,
    });
    return writeInfos(response);
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
  return body.map((item: unknown) => {
    const entry = item as { name?: unknown; path?: unknown };
    return { name: String(entry.name), path: String(entry.path), type: "file" as const };
  });
}
