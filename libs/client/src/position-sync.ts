import type { AckFrame, Position } from "@threadline/protocol";
import { forgetPosition, type PositionStorage, writePosition } from "./position-storage.ts";
import { Throttle } from "./throttle.ts";

/** At most this many acks per second per session. */
const ACK_INTERVAL_MS = 250;
/** At most one storage write per second per session (plus a final one on detach/close). */
const STORE_INTERVAL_MS = 1_000;
const NOTHING_TO_WRITE: Promise<void> = Promise.resolve();

/**
 * Keeps the two copies of a session's applied position up to date, throttled:
 * the device cursor on the gateway (`ack` frames, ≤ 4/s) and the position in
 * the app's `PositionStorage` (≤ 1 write/s, plus a final one).
 */
export class PositionSync {
  /** The seq the cursor should reach. */
  private ackTarget = 0;
  /** The last seq an ack frame carried on the current socket. */
  private ackedSeq = 0;
  private readonly acks = new Throttle(ACK_INTERVAL_MS, () => this.canAck() && this.sendAck());

  /** The seq last written to storage (or read from it). */
  private storedSeq: number | undefined;
  private readonly storeWrites = new Throttle(STORE_INTERVAL_MS, () => this.writeStore() !== NOTHING_TO_WRITE);

  constructor(
    private readonly session: string,
    private readonly storage: PositionStorage,
    private readonly send: (frame: AckFrame) => boolean,
    /** The position to store; undefined when there is none. */
    private readonly position: () => Position | undefined,
    /** True while an attachment can carry acks. */
    private readonly canAck: () => boolean,
  ) {}

  /** The highest seq asked to be acked. */
  get target(): number {
    return this.ackTarget;
  }

  /** Moves the cursor target to `seq` (if ahead) and schedules an ack. */
  ackUpTo(seq: number): void {
    if (seq <= this.ackTarget) return;
    this.ackTarget = seq;
    this.acks.schedule();
  }

  /** A new epoch: seqs acked in the old one mean nothing any more. */
  resetAcks(): void {
    this.ackTarget = 0;
    this.ackedSeq = 0;
  }

  /** After `attached` from `from`: the previous socket's last ack may have been lost with it; repeat it (it is ≤ `from`, so valid). */
  attachedFrom(from: number): void {
    if (this.ackTarget > 0 && this.ackTarget <= from) this.ackedSeq = 0;
    this.acks.schedule();
  }

  /** Sends the pending ack now (even if the attachment is ending). */
  flushAck(): void {
    this.acks.cancel();
    this.sendAck();
  }

  /** Sends the pending ack now if an attachment can carry it. */
  runAck(): void {
    this.acks.runNow();
  }

  cancelAck(): void {
    this.acks.cancel();
  }

  /** The position changed: write it (throttled). */
  scheduleStore(): void {
    this.storeWrites.schedule();
  }

  /** Storage already holds `seq` (the handle started from it). */
  stored(seq: number): void {
    this.storedSeq = seq;
  }

  /** Writes the position now if it changed since the last write. */
  flushStore(): Promise<void> {
    this.storeWrites.cancel();
    return this.writeStore();
  }

  /** Deletes the stored position (it can never be resumed). */
  forget(): Promise<void> {
    this.storeWrites.cancel();
    this.storedSeq = undefined;
    return forgetPosition(this.storage, this.session);
  }

  /** Sends the ack target if it is ahead of the last ack sent; true when a frame went out. */
  private sendAck(): boolean {
    if (this.ackTarget <= this.ackedSeq) return false;
    if (!this.send({ op: "ack", session: this.session, seq: this.ackTarget })) return false;
    this.ackedSeq = this.ackTarget;
    return true;
  }

  /** Writes the position if it changed since the last write; NOTHING_TO_WRITE otherwise. */
  private writeStore(): Promise<void> {
    const position = this.position();
    if (!position || position.seq === this.storedSeq) return NOTHING_TO_WRITE;
    this.storedSeq = position.seq;
    return writePosition(this.storage, this.session, position);
  }
}
