/** Filesystem RPCs: stat, list, make, rename, remove, watch. */
import { timestampDate } from "@bufbuild/protobuf/wkt";

import type { Connection, UserCallOptions } from "./connection.js";
import { Code, EnvdError, wrapErrors } from "./errors.js";
import type { EntryInfo as WireEntry, WatchDirResponse } from "./gen/filesystem/filesystem_pb.js";
import { EventType, FileType } from "./gen/filesystem/filesystem_pb.js";
import type { OpenedStream } from "./stream.js";
import { watchStream } from "./stream.js";

/** Entry types (`unknown`: devices, fifos, sockets, broken symlinks). */
export type EntryType = "file" | "dir" | "symlink" | "unknown";

/** One filesystem entry. A symlink reports its target's type and mode. */
export interface EntryInfo {
  name: string;
  type: EntryType;
  /** The path as resolved by envd (not symlink-resolved). */
  path: string;
  /** Size in bytes (lstat). */
  size: number;
  /** Permission bits (`mode & 0o777`). */
  mode: number;
  /** Go-style permission string, e.g. `-rw-r--r--`. */
  permissions: string;
  owner: string;
  group: string;
  modifiedTime: Date | undefined;
  /** Fully resolved target, for symlinks. */
  symlinkTarget: string | undefined;
  /** The file's metadata (`user.e2b.*` extended attributes); `{}` when none. */
  metadata: Record<string, string>;
}

/** Filesystem change kinds. */
export type FilesystemEventType = "create" | "write" | "remove" | "rename" | "chmod";

/** One change under a watched directory. */
export interface FilesystemEvent {
  /** Path relative to the watched directory. */
  name: string;
  type: FilesystemEventType;
}

/** Options of {@link Filesystem.watch}. */
export interface WatchOptions extends UserCallOptions {
  /** Also watch subdirectories (including ones created later). */
  recursive?: boolean | undefined;
}

/** Options of {@link Filesystem.list}. */
export interface ListOptions extends UserCallOptions {
  /** How deep to descend (default 1 = the directory's own entries). */
  depth?: number | undefined;
}

const ENTRY_TYPES: Partial<Record<FileType, EntryType>> = {
  [FileType.UNSPECIFIED]: "unknown",
  [FileType.FILE]: "file",
  [FileType.DIRECTORY]: "dir",
  [FileType.SYMLINK]: "symlink",
};

const EVENT_TYPES: Partial<Record<EventType, FilesystemEventType>> = {
  [EventType.CREATE]: "create",
  [EventType.WRITE]: "write",
  [EventType.REMOVE]: "remove",
  [EventType.RENAME]: "rename",
  [EventType.CHMOD]: "chmod",
};

/** Converts the wire entry. */
export function toEntry(entry: WireEntry | undefined): EntryInfo {
  if (entry === undefined) {
    throw new EnvdError(Code.Internal, "envd sent no entry");
  }
  return {
    name: entry.name,
    type: ENTRY_TYPES[entry.type] ?? "unknown",
    path: entry.path,
    size: Number(entry.size),
    mode: entry.mode,
    permissions: entry.permissions,
    owner: entry.owner,
    group: entry.group,
    modifiedTime: entry.modifiedTime === undefined ? undefined : timestampDate(entry.modifiedTime),
    symlinkTarget: entry.symlinkTarget,
    metadata: { ...entry.metadata },
  };
}

/** A directory watch; iterate it for events, `stop()` to end it. */
export class WatchHandle implements AsyncIterable<FilesystemEvent> {
  readonly #stream: OpenedStream<WatchDirResponse>;
  #stopped = false;
  #iterating = false;

  /** @internal */
  constructor(stream: OpenedStream<WatchDirResponse>) {
    this.#stream = stream;
  }

  /**
   * Events as they happen, until `stop()` (or a failure, thrown). One
   * iteration at a time: events are read from the stream as you consume them.
   */
  async *events(): AsyncGenerator<FilesystemEvent, void, undefined> {
    if (this.#iterating) {
      throw new EnvdError(Code.FailedPrecondition, "this watch is already being iterated");
    }
    this.#iterating = true;
    try {
      for await (const message of this.#stream.messages) {
        if (message.event.case === "filesystem") {
          const type = EVENT_TYPES[message.event.value.type];
          if (type !== undefined) {
            yield { name: message.event.value.name, type };
          }
        }
      }
    } catch (e) {
      if (!this.#stopped) {
        throw e;
      }
    } finally {
      this.#iterating = false;
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<FilesystemEvent> {
    return this.events();
  }

  /** Ends the watch. */
  stop(): void {
    this.#stopped = true;
    this.#stream.abort();
  }
}

/** The filesystem RPCs; `Files` adds transfers on top. */
export class Filesystem {
  protected readonly conn: Connection;

  /** @internal */
  constructor(conn: Connection) {
    this.conn = conn;
  }

  /** Describes `path` (a symlink describes the link; see {@link EntryInfo}). */
  async stat(path: string, options: UserCallOptions = {}): Promise<EntryInfo> {
    const response = await wrapErrors(() => this.conn.filesystem.stat({ path }, this.conn.unary(options)));
    return toEntry(response.entry);
  }

  /** Whether `path` exists (false only on `not_found`). */
  async exists(path: string, options: UserCallOptions = {}): Promise<boolean> {
    try {
      await this.stat(path, options);
      return true;
    } catch (e) {
      if (e instanceof EnvdError && e.code === Code.NotFound) {
        return false;
      }
      throw e;
    }
  }

  /** Entries below `path` in envd's order (depth-first, lexical). */
  async list(path: string, options: ListOptions = {}): Promise<EntryInfo[]> {
    const depth = options.depth ?? 1;
    if (!Number.isInteger(depth) || depth < 1) {
      throw new EnvdError(Code.InvalidArgument, `depth must be a positive integer, got ${depth}`);
    }
    const response = await wrapErrors(() => this.conn.filesystem.listDir({ path, depth }, this.conn.unary(options)));
    return response.entries.map(toEntry);
  }

  /** Creates `path` and missing parents; an existing path is `already_exists`. */
  async makeDir(path: string, options: UserCallOptions = {}): Promise<EntryInfo> {
    const response = await wrapErrors(() => this.conn.filesystem.makeDir({ path }, this.conn.unary(options)));
    return toEntry(response.entry);
  }

  /** Renames `from` to `to` (replacing a file there); returns the new entry. */
  async rename(from: string, to: string, options: UserCallOptions = {}): Promise<EntryInfo> {
    const response = await wrapErrors(() =>
      this.conn.filesystem.move({ source: from, destination: to }, this.conn.unary(options)),
    );
    return toEntry(response.entry);
  }

  /** Removes a file, link or whole tree; a missing path is success. */
  async remove(path: string, options: UserCallOptions = {}): Promise<void> {
    requirePath(path, "remove");
    await wrapErrors(() => this.conn.filesystem.remove({ path }, this.conn.unary(options)));
  }

  /** Watches directory `path`; resolves once the watch is established. */
  async watch(path: string, options: WatchOptions = {}): Promise<WatchHandle> {
    const stream = watchStream(
      this.conn,
      (call) => this.conn.filesystem.watchDir({ path, recursive: options.recursive ?? false }, call),
      options,
    );
    const first = await stream.messages.next();
    if (first.done === true || first.value.event.case !== "start") {
      stream.abort();
      throw new EnvdError(Code.Internal, "expected the watch's start event first");
    }
    return new WatchHandle(stream);
  }
}

/**
 * Guards destructive operations: envd resolves an empty path to the home
 * directory, so `remove("")` would delete it.
 */
export function requirePath(path: string, operation: string): void {
  if (path.trim().length === 0) {
    throw new EnvdError(Code.InvalidArgument, `${operation}: an empty path is refused (it would mean the home directory)`);
  }
}
