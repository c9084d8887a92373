import {
  applyPresenceEvent,
  ErrorCode,
  type PresenceMember,
  type PresenceTransition,
  presenceMetadataProblem,
  presenceStatusProblem,
  type SessionEvent,
  ThreadlineError,
} from "@threadline/protocol";
import { notifyAll } from "./report-error.ts";

/**
 * Who is in the session, built from its `presence.join` / `presence.update`
 * / `presence.leave` events as the handle applies them — so it follows the
 * session identically after a resume — and seeded with the gateway's member
 * snapshot (`GET /v1/sessions/:id/presence`) once the first attach is synced,
 * because an attach from a cursor or `now` does not replay earlier joins.
 */
/** What `onChange` listeners receive: the members after the change, and the transition (absent for a snapshot). */
export interface PresenceViewChange {
  members: PresenceMember[];
  transition?: PresenceTransition;
}

export interface SessionPresenceView {
  /** Current members, one per participant (kind, id) with its devices. */
  readonly members: PresenceMember[];
  /** Calls `cb` after every membership change (event or snapshot). Returns an unsubscribe function. */
  onChange(cb: (change: PresenceViewChange) => void): () => void;
  /** Re-reads the member snapshot from the gateway and replaces the view with it. */
  refresh(): Promise<void>;
  /**
   * Sets this device's status (open set, lowercase word: `active`, `idle`, `typing`, …) and
   * optional metadata (≤ 1 KiB JSON) in the session. Kept and re-sent after every re-attach.
   * Rejects with `INVALID_FRAME` / `EVENT_TOO_LARGE` before sending, `CLOSED` while disconnected
   * (it is still re-sent on the next attach).
   * @example await session.presence.set("idle");
   */
  set(status: string, options?: { metadata?: Record<string, unknown> }): Promise<void>;
}

export class PresenceView implements SessionPresenceView {
  private readonly map = new Map<string, PresenceMember>();
  private readonly listeners = new Set<(change: PresenceViewChange) => void>();

  private desired: { status: string; metadata?: Record<string, unknown> } | undefined;
  /** The snapshot seeded the view (or is being fetched). */
  private seeded = false;
  /**
   * Per snapshot in flight, the presence events applied meanwhile: the snapshot may have been read
   * before them, so they are applied again on top of it (each event carries its member's whole state,
   * so replaying them in order ends where the events did).
   */
  private readonly applying = new Set<SessionEvent[]>();

  constructor(
    private readonly session: string,
    private readonly fetchSnapshot: () => Promise<PresenceMember[]>,
    private readonly send: (status: string, metadata: Record<string, unknown> | undefined) => Promise<void>,
  ) {}

  async set(status: string, options: { metadata?: Record<string, unknown> } = {}): Promise<void> {
    const statusProblem = presenceStatusProblem(status);
    const metadataProblem = presenceMetadataProblem(options.metadata);
    if (statusProblem || metadataProblem) {
      const code = metadataProblem?.includes("exceeds") ? ErrorCode.EVENT_TOO_LARGE : ErrorCode.INVALID_FRAME;
      throw new ThreadlineError(code, `presence: ${statusProblem ?? metadataProblem}`, { session: this.session });
    }
    this.desired = { status, ...(options.metadata === undefined ? {} : { metadata: options.metadata }) };
    await this.send(status, options.metadata);
  }

  /**
   * After a sync: events replayed from a cursor or `now` miss earlier joins, so the view is seeded
   * from the gateway's snapshot once. A failed snapshot leaves the event-built view and is retried
   * after the next sync.
   */
  seedOnce(): void {
    if (this.seeded) return;
    this.seeded = true;
    this.refresh().catch(() => {
      this.seeded = false;
    });
  }

  /** After a (re-)attach: the new socket's entry starts `active`; re-send the status the app set. */
  reapply(): void {
    if (this.desired) void this.send(this.desired.status, this.desired.metadata).catch(() => {});
  }

  get members(): PresenceMember[] {
    return [...this.map.values()];
  }

  onChange(cb: (change: PresenceViewChange) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  async refresh(): Promise<void> {
    const meanwhile: SessionEvent[] = [];
    this.applying.add(meanwhile);
    let members: PresenceMember[];
    try {
      members = await this.fetchSnapshot();
    } finally {
      this.applying.delete(meanwhile);
    }
    this.map.clear();
    for (const m of members) this.map.set(`${m.kind}.${m.id}`, m);
    // Regression (CI, browser http-fallback): a device that joined while the snapshot was in flight vanished.
    for (const event of meanwhile) applyPresenceEvent(this.map, event.type, event.data);
    notifyAll(this.listeners, { members: this.members });
  }

  /** Applies a session event; non-presence events are ignored. */
  apply(event: SessionEvent): void {
    if (!event.type.startsWith("presence.")) return;
    for (const meanwhile of this.applying) meanwhile.push(event);
    const member = applyPresenceEvent(this.map, event.type, event.data);
    if (!member) return;
    const transition = { session: this.session, type: event.type, data: event.data } as PresenceTransition;
    notifyAll(this.listeners, { members: this.members, transition });
  }
}
