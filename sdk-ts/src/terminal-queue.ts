/**
 * The ordered, sequenced input of one terminal session (`envd.pty.v1.Pty/Send`).
 *
 * Writes, resizes and signals are queued; at most one `Send` is in flight.
 * When it returns, everything queued meanwhile goes out as the next batch,
 * consecutive input merged into one input operation, resizes and signals
 * in their place. Each batch carries the next sequence number; envd applies
 * batches strictly in order and ignores one it already applied, so a batch
 * whose fate is unknown (transport failure, `unavailable`, deadline) is
 * retried with the *same* number and the *same* operations, with bounded
 * backoff, and is never typed twice.
 */
import { Code, EnvdError } from "./errors.js";

/** Signals a terminal's process group can be sent (`envd.pty.v1.Signal`). */
export type TerminalSignal =
  | "HUP"
  | "INT"
  | "QUIT"
  | "KILL"
  | "USR1"
  | "USR2"
  | "TERM"
  | "CONT"
  | "STOP"
  | "TSTP"
  | "WINCH";

/** One operation of a batch. */
export type TerminalOp =
  | { kind: "input"; data: Uint8Array }
  | { kind: "resize"; cols: number; rows: number }
  | { kind: "signal"; signal: TerminalSignal };

/** Sends one batch; resolves with envd's `last_applied_seq`. */
export type SendBatch = (seq: number, ops: TerminalOp[]) => Promise<number>;

/** How a batch whose fate is unknown is retried. */
export interface RetryPolicy {
  /** Attempts per batch, the first included (default 8). */
  attempts: number;
  /** Delay before the first retry, doubled each time (default 50 ms). */
  initialDelayMs: number;
  /** Longest delay between attempts (default 2000 ms). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, initialDelayMs: 50, maxDelayMs: 2000 };

interface Pending {
  op: TerminalOp;
  resolve: () => void;
  reject: (reason: unknown) => void;
}

/** Failures after which a batch may or may not have been applied: retried with the same seq. */
export function isRetryable(error: EnvdError): boolean {
  return error.code === Code.Unavailable || error.code === Code.DeadlineExceeded || error.code === Code.Unknown;
}

/** Queues {@link TerminalOp}s and sends them as sequenced batches, one at a time. */
export class SendQueue {
  readonly #send: SendBatch;
  readonly #retry: RetryPolicy;
  readonly #queue: Pending[] = [];
  #nextSeq: number;
  #running = false;
  /** Set when a batch's fate stayed unknown after every retry: later sequence numbers would be guesses. */
  #broken: EnvdError | undefined;

  /** `firstSeq`: 1 for a new terminal, `last_applied_seq + 1` after attach. */
  constructor(send: SendBatch, firstSeq: number, retry: RetryPolicy = DEFAULT_RETRY) {
    this.#send = send;
    this.#nextSeq = firstSeq;
    this.#retry = retry;
  }

  /** The sequence number the next batch will carry. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** Queues `op`; resolves once the batch carrying it was applied. */
  push(op: TerminalOp): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#broken !== undefined) {
        reject(this.#broken);
        return;
      }
      this.#queue.push({ op, resolve, reject });
      if (!this.#running) {
        this.#running = true;
        void this.#drain();
      }
    });
  }

  async #drain(): Promise<void> {
    try {
      for (let batch = this.#queue.splice(0); batch.length > 0; batch = this.#queue.splice(0)) {
        if (this.#broken !== undefined) {
          for (const p of batch) p.reject(this.#broken);
          continue;
        }
        try {
          await this.#sendWithRetry(merge(batch.map((p) => p.op)));
          for (const p of batch) p.resolve();
        } catch (e) {
          for (const p of batch) p.reject(e);
        }
      }
    } finally {
      this.#running = false;
    }
  }

  async #sendWithRetry(ops: TerminalOp[]): Promise<void> {
    const seq = this.#nextSeq;
    let delay = this.#retry.initialDelayMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const applied = await this.#send(seq, ops);
        if (applied < seq) {
          // envd answers a batch it applied (or had applied) with at least its seq.
          throw new EnvdError(Code.Internal, `envd answered batch ${seq} with last_applied_seq ${applied}`);
        }
        if (attempt === 1 && applied > seq) {
          // Nothing of ours waited behind this batch, so a later seq is another
          // writer's: this batch was taken as a duplicate and not applied.
          this.#nextSeq = applied + 1;
          throw new EnvdError(
            Code.FailedPrecondition,
            `batch ${seq} was not applied: another client already sent up to batch ${applied} to this terminal ` +
              "(one session should write to a terminal at a time); later writes continue after it",
          );
        }
        this.#nextSeq = seq + 1;
        return;
      } catch (e) {
        const error = EnvdError.from(e);
        if (error.code === Code.FailedPrecondition && this.#nextSeq !== seq) {
          throw error;
        }
        if (!isRetryable(error)) {
          // envd refused the batch before applying any of it: the seq is not consumed.
          throw error;
        }
        if (attempt >= this.#retry.attempts) {
          this.#broken = new EnvdError(
            error.code,
            `batch ${seq} failed ${attempt} times (${error.message}); whether envd applied it is unknown, ` +
              "so this session sends nothing more: attach a new session to continue",
            { cause: error, reason: error.reason },
          );
          throw this.#broken;
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, this.#retry.maxDelayMs);
      }
    }
  }
}

/** Merges consecutive inputs; resizes and signals keep their place. */
export function merge(ops: readonly TerminalOp[]): TerminalOp[] {
  const out: TerminalOp[] = [];
  let inputs: Uint8Array[] = [];
  const flush = (): void => {
    if (inputs.length === 1 && inputs[0] !== undefined) {
      out.push({ kind: "input", data: inputs[0] });
    } else if (inputs.length > 1) {
      const data = new Uint8Array(inputs.reduce((n, d) => n + d.length, 0));
      let at = 0;
      for (const part of inputs) {
        data.set(part, at);
        at += part.length;
      }
      out.push({ kind: "input", data });
    }
    inputs = [];
  };
  for (const op of ops) {
    if (op.kind === "input") {
      if (op.data.length > 0) inputs.push(op.data);
    } else {
      flush();
      out.push(op);
    }
  }
  flush();
  return out;
}
