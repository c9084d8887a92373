import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import type { ControlState, TurnRecord } from "@threadline/store";

/** How often a lease is checked and renewed. */
export interface LeaseTiming {
  /** The input's ack wait: the entry is re-read every `leaseMs / 3`. */
  leaseMs: number;
  /** The entry's `leaseUntil` is moved to now + `orphanAfterMs` every `orphanAfterMs / 3`. */
  orphanAfterMs: number;
}

/**
 * This worker's hold on a running turn, as the control bucket records it:
 * the turn entry's revision last written by this worker (its claim, then
 * its renewals). Every `leaseMs / 3` (alongside the in-progress ack that
 * keeps the input at the server) it re-reads the entry, and every
 * `orphanAfterMs / 3` it renews the entry's `leaseUntil` with a CAS, so that
 * anyone can tell a live worker from a dead one by the entry alone
 * (PROTOCOL.md §17.6 "Orphaned turns"). A changed revision, or a lost
 * renewal CAS, means another worker took the turn over or ended it — this
 * one stalled past the lease (paused, starved, partitioned) — so the lease is
 * lost: `onLost` fires once (the turn's signal aborts) and nothing more may
 * be published for the turn.
 *
 * `guard()` runs before every publish of the turn: when the last
 * confirmation is older than `leaseMs / 2` (the process just woke from a
 * stall) it re-checks first, so a stalled worker never publishes into a
 * turn someone else owns now. A failed read or write (NATS unavailable) does
 * not count as lost: the in-progress acks fail then too, and the server decides.
 */
export class TurnLease {
  private confirmedAt = Date.now();
  private renewedAt = Date.now();
  private checking: Promise<boolean> | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private ended = false;
  private lostReason: ThreadlineError | undefined;

  constructor(
    private readonly control: ControlState,
    private readonly session: string,
    private readonly turn: string,
    private current: { revision: number; entry: TurnRecord },
    private readonly timing: LeaseTiming,
    private readonly onLost: (reason: ThreadlineError) => void,
  ) {}

  get lost(): boolean {
    return this.lostReason !== undefined;
  }

  /** The entry as this worker last wrote it, and its revision (the final CAS goes against it). */
  get held(): { revision: number; entry: TurnRecord } {
    return this.current;
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), Math.floor(this.timing.leaseMs / 3));
  }

  /** Resolves when the lease is held (confirmed within `leaseMs / 2`); throws `TURN_ENDED` when it was lost. */
  async guard(): Promise<void> {
    if (this.lostReason) throw this.lostReason;
    if (Date.now() - this.confirmedAt < this.timing.leaseMs / 2) return;
    if (!(await this.check())) throw this.lostReason;
  }

  /** Stops checking and renewing; resolves once a check in flight is done (so `held` is final). */
  async end(): Promise<void> {
    this.ended = true;
    clearInterval(this.timer);
    await this.checking;
  }

  private check(): Promise<boolean> {
    this.checking ??= (async () => {
      const sentAt = Date.now();
      try {
        const renew = sentAt - this.renewedAt >= this.timing.orphanAfterMs / 3;
        const held = renew ? await this.renew(sentAt) : await this.stillOurs();
        if (this.ended || this.lostReason) return !this.lostReason;
        if (held) {
          this.confirmedAt = sentAt;
          return true;
        }
        this.lostReason = new ThreadlineError(
          ErrorCode.TURN_ENDED,
          `turn ${this.turn} was taken over or ended by another worker (this one stalled past its lease)`,
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

  private async stillOurs(): Promise<boolean> {
    const read = await this.control.getTurn(this.session, this.turn);
    return read?.revision === this.current.revision;
  }

  /** CAS of a later `leaseUntil` on the revision this worker wrote: fails only when someone else wrote since. */
  private async renew(now: number): Promise<boolean> {
    if (this.ended) return true;
    const entry: TurnRecord = { ...this.current.entry, leaseUntil: now + this.timing.orphanAfterMs };
    const revision = await this.control.casTurn(this.session, this.turn, entry, this.current.revision);
    if (revision === undefined) return false;
    this.current = { revision, entry };
    this.renewedAt = now;
    return true;
  }
}
