/**
 * One ordered queue for everything sent to a PTY. Keystrokes queued while
 * an input RPC is in flight are merged into the next one; a resize or kill
 * is never dropped, never merged and never overtakes (or is overtaken by)
 * input around it: consecutive inputs merge only when nothing else sits
 * between them.
 */

/** One operation on a PTY. */
export type PtyOp =
  | { kind: "input"; data: Uint8Array }
  | { kind: "resize"; cols: number; rows: number }
  | { kind: "kill" };

interface Pending {
  op: PtyOp;
  resolve: () => void;
  reject: (reason: unknown) => void;
}

/** Serialises {@link PtyOp}s through `send`, one RPC at a time. */
export class PtyInputQueue {
  readonly #send: (op: PtyOp) => Promise<void>;
  readonly #queue: Pending[] = [];
  #running = false;

  constructor(send: (op: PtyOp) => Promise<void>) {
    this.#send = send;
  }

  /** Queues `op`; resolves once the RPC carrying it succeeded. */
  push(op: PtyOp): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ op, resolve, reject });
      if (!this.#running) {
        this.#running = true;
        void this.#drain();
      }
    });
  }

  async #drain(): Promise<void> {
    try {
      for (let batch = this.#take(); batch.length > 0; batch = this.#take()) {
        try {
          await this.#send(merge(batch));
          for (const p of batch) {
            p.resolve();
          }
        } catch (e) {
          for (const p of batch) {
            p.reject(e);
          }
        }
      }
    } finally {
      this.#running = false;
    }
  }

  /** The head of the queue: one resize/kill, or every input up to the next one. */
  #take(): Pending[] {
    const head = this.#queue[0];
    if (head === undefined) {
      return [];
    }
    if (head.op.kind !== "input") {
      return this.#queue.splice(0, 1);
    }
    let end = 1;
    while (this.#queue[end]?.op.kind === "input") {
      end++;
    }
    return this.#queue.splice(0, end);
  }
}

function merge(batch: Pending[]): PtyOp {
  const [first] = batch;
  if (first !== undefined && batch.length === 1) {
    return first.op;
  }
  const parts = batch.map((p) => (p.op.kind === "input" ? p.op.data : new Uint8Array()));
  const data = new Uint8Array(parts.reduce((n, d) => n + d.length, 0));
  let at = 0;
  for (const part of parts) {
    data.set(part, at);
    at += part.length;
  }
  return { kind: "input", data };
}
