import { ErrorCode, type ServerFrame, ThreadlineError } from "@threadline/protocol";

interface Pending {
  resolve: (frame: ServerFrame) => void;
  reject: (error: ThreadlineError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Largest rid before wrapping back to 1 (fits every msgpack/JSON integer encoding comfortably). */
const MAX_RID = 2 ** 31 - 1;

/**
 * Correlates requests (`attach`, `detach`, `publish`, `ping`) with their
 * replies by `rid` (PROTOCOL.md §5.3). Each request settles exactly once:
 * with its reply, with an `error` frame, with `TIMEOUT`, or with whatever
 * `rejectAll` is given when the socket goes away.
 *
 * Bounded: at `maxOutstanding` requests, `start` throws `TOO_MANY_PENDING`.
 * (The client's own limits — pending publishes, sessions — keep it far below.)
 */
export class RequestTracker {
  private readonly pending = new Map<number, Pending>();
  private nextRid = 1;

  constructor(private readonly maxOutstanding = 10_000) {}

  get size(): number {
    return this.pending.size;
  }

  /**
   * Registers a request. The returned promise resolves with the reply frame
   * or rejects with a ThreadlineError. `timeoutMs` ≤ 0 or Infinity disables the timeout.
   */
  start(timeoutMs: number, what: string): { rid: number; reply: Promise<ServerFrame> } {
    if (this.pending.size >= this.maxOutstanding) {
      throw new ThreadlineError(ErrorCode.TOO_MANY_PENDING, `more than ${this.maxOutstanding} outstanding requests`);
    }
    const rid = this.allocateRid();
    const reply = new Promise<ServerFrame>((resolve, reject) => {
      const timer =
        timeoutMs > 0 && Number.isFinite(timeoutMs)
          ? setTimeout(() => {
              this.reject(rid, new ThreadlineError(ErrorCode.TIMEOUT, `${what} got no reply within ${timeoutMs} ms`));
            }, timeoutMs)
          : undefined;
      this.pending.set(rid, { resolve, reject, timer });
    });
    return { rid, reply };
  }

  /** Settles request `rid` with its reply. False when no such request is outstanding (late or unknown reply). */
  resolve(rid: number, frame: ServerFrame): boolean {
    const entry = this.take(rid);
    entry?.resolve(frame);
    return entry !== undefined;
  }

  /** Settles request `rid` with an error. False when no such request is outstanding. */
  reject(rid: number, error: ThreadlineError): boolean {
    const entry = this.take(rid);
    entry?.reject(error);
    return entry !== undefined;
  }

  /** Rejects every outstanding request (the socket closed). */
  rejectAll(error: ThreadlineError): void {
    const entries = [...this.pending.values()];
    this.pending.clear();
    for (const entry of entries) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
  }

  private take(rid: number): Pending | undefined {
    const entry = this.pending.get(rid);
    if (!entry) return undefined;
    this.pending.delete(rid);
    clearTimeout(entry.timer);
    return entry;
  }

  private allocateRid(): number {
    // Skip rids still outstanding after a wrap-around (unique among outstanding requests, §5.3).
    for (;;) {
      const rid = this.nextRid;
      this.nextRid = rid >= MAX_RID ? 1 : rid + 1;
      if (!this.pending.has(rid)) return rid;
    }
  }
}
