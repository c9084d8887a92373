import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import type { ControlState } from "@threadline/store";

/**
 * This worker's hold on a running turn, as the control bucket records it:
 * the turn entry's revision written by this worker's claim. Every
 * `leaseMs / 3` (alongside the in-progress ack that keeps the input at the
 * server) it re-reads the entry; a changed revision means another worker
 * took the turn over — this one stalled past the lease (paused, starved,
 * partitioned) — so the lease is lost: `onLost` fires once (the turn's
 * signal aborts) and nothing more may be published for the turn.
 *
 * `guard()` runs before every publish of the turn: when the last
 * confirmation is older than `leaseMs / 2` (the process just woke from a
 * stall) it re-checks first, so a stalled worker never publishes into a
 * turn someone else owns now. A failed read (NATS unavailable) does not
 * count as lost: the in-progress acks fail then too, and the server decides.
 */
export class TurnLease {
  private confirmedAt = Date.now();
  private checking: Promise<boolean> | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private ended = false;
  private lostReason: ThreadlineError | undefined;

  constructor(
    private readonly control: ControlState,
    private readonly session: string,
    private readonly turn: string,
    private readonly revision: number,
    private readonly leaseMs: number,
    private readonly onLost: (reason: ThreadlineError) => void,
  ) {}

  get lost(): boolean {
    return this.lostReason !== undefined;
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), Math.floor(this.leaseMs / 3));
  }

  /** Resolves when the lease is held (confirmed within `leaseMs / 2`); throws `TURN_ENDED` when it was lost. */
  async guard(): Promise<void> {
    if (this.lostReason) throw this.lostReason;
    if (Date.now() - this.confirmedAt < this.leaseMs / 2) return;
    if (!(await this.check())) throw this.lostReason;
  }

  /** Stops checking (the turn is ending; its final CAS decides from here). */
  end(): void {
    this.ended = true;
    clearInterval(this.timer);
  }

  private check(): Promise<boolean> {
    this.checking ??= (async () => {
      const sentAt = Date.now();
      try {
        const current = await this.control.getTurn(this.session, this.turn);
        if (this.ended || this.lostReason) return !this.lostReason;
        if (current?.revision === this.revision) {
          this.confirmedAt = sentAt;
          return true;
        }
        this.lostReason = new ThreadlineError(
          ErrorCode.TURN_ENDED,
          `turn ${this.turn} was taken over by another worker (this one stalled past its lease)`,
          { session: this.session, retryable: false },
        );
        this.onLost(this.lostReason);
        return false;
      } catch {
        return !this.lostReason;
      } finally {
        this.checking = undefined;
      }
    })();
    return this.checking;
  }
}
