/**
 * A bounded log of output chunks. Handles keep a stream's recent output here
 * instead of every chunk forever: once the chunks held add up to more than
 * `maxBytes`, the oldest are dropped (the newest chunk is always kept, so a
 * single chunk larger than the bound is still held whole). Readers walk the
 * log by position; a reader that fell behind what is still held learns how
 * many chunks and bytes it missed, so no handle loses output silently.
 */

/** Default bound of command and PTY handles (`maxOutputBytes`). */
export const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/** What a reader gets: the next chunk, or how much it missed. */
export type LogRead<T> = { kind: "chunk"; chunk: T } | { kind: "missed"; chunks: number; bytes: number };

/** Chunks with a byte length, dropped oldest-first beyond a byte bound. */
export class OutputLog<T extends { data: Uint8Array }> {
  readonly #maxBytes: number;
  /** Held chunks; `#items[#head]` is position `#first`. */
  #items: (T | undefined)[] = [];
  #head = 0;
  #first = 0;
  #bytes = 0;
  /** Bytes dropped to stay within the bound (all bytes before position `#first`). */
  #droppedBytes = 0;

  constructor(maxBytes: number) {
    if (!(maxBytes >= 0)) {
      throw new RangeError(`maxOutputBytes must be >= 0, got ${maxBytes}`);
    }
    this.#maxBytes = maxBytes;
  }

  /** Position one past the newest chunk (the next chunk's position). */
  get end(): number {
    return this.#first + this.#items.length - this.#head;
  }

  /** Position of the oldest chunk held. */
  get start(): number {
    return this.#first;
  }

  /** Bytes dropped to stay within the bound. */
  get droppedBytes(): number {
    return this.#droppedBytes;
  }

  /** Appends `chunk`, then drops the oldest chunks beyond the bound. */
  push(chunk: T): void {
    this.#items.push(chunk);
    this.#bytes += chunk.data.length;
    while (this.#bytes > this.#maxBytes && this.#items.length - this.#head > 1) {
      const old = this.#items[this.#head];
      this.#items[this.#head] = undefined;
      this.#head++;
      this.#first++;
      const n = old?.data.length ?? 0;
      this.#bytes -= n;
      this.#droppedBytes += n;
    }
    // Compact now and then, so the backing array does not grow forever.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }

  /**
   * The chunk at `position`, or how much a reader at `position` missed;
   * `consumedBytes` is what that reader read before `position`.
   */
  read(position: number, consumedBytes: number): LogRead<T> | undefined {
    if (position < this.#first) {
      return { kind: "missed", chunks: this.#first - position, bytes: this.#droppedBytes - consumedBytes };
    }
    const chunk = this.#items[this.#head + position - this.#first];
    return chunk === undefined ? undefined : { kind: "chunk", chunk };
  }

  /** Every chunk held, oldest first. */
  held(): T[] {
    return this.#items.slice(this.#head) as T[];
  }

  /** The held chunks matching `keep`, concatenated. */
  bytes(keep: (chunk: T) => boolean = () => true): Uint8Array {
    return concat(this.held().filter(keep).map((c) => c.data));
  }
}

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
