/** Everything both entries export besides their `Envd` class. */
export { EnvdClient } from "./client.js";
export type { InitOptions, Metrics } from "./client.js";
export { CommandHandle, Commands } from "./commands.js";
export type { CommandResult, ProcessInfo, ProcessOptions, RunOptions, SignalName, SpawnOptions } from "./commands.js";
export type { CallOptions, EnvdOptions, UserCallOptions } from "./connection.js";
export { Code, EnvdError, ErrorReason, codeFromHttpStatus, codeFromName, codeName } from "./errors.js";
export type { EnvdErrorOptions } from "./errors.js";
export { Files } from "./files.js";
export type { ReadOptions, SignedUrlOptions, WriteData, WriteInfo, WriteOptions } from "./files.js";
export { Filesystem, WatchHandle } from "./filesystem.js";
export type { EntryInfo, EntryType, FilesystemEvent, FilesystemEventType, ListOptions, WatchOptions } from "./filesystem.js";
export type { OutputCallbacks, OutputChunk, OutputRetention, ProcessExit, Selector } from "./process.js";
export { Pty, PtyHandle } from "./pty.js";
export type { PtyOptions, PtyResult, PtySize } from "./pty.js";
export { fileSignature } from "./signing.js";
export type { FileOperation, SignatureInput } from "./signing.js";
export { Terminals } from "./terminal.js";
export type { AttachOptions, TerminalInfo, TerminalOptions } from "./terminal.js";
export type {
  TerminalExit,
  TerminalLost,
  TerminalOutput,
  TerminalSize,
  TerminalStarted,
  TerminalStream,
  TerminalWireEvent,
} from "./terminal-events.js";
export type { RetryPolicy, TerminalOp, TerminalSignal } from "./terminal-queue.js";
export { DEFAULT_KEEP_OUTPUT_BYTES, TerminalSession } from "./terminal-session.js";
export type { SessionOptions, TerminalEvent, TerminalResult } from "./terminal-session.js";
