import {
  applyPresenceEvent,
  type PresenceMember,
  type PresenceTransition,
  type SessionEvent,
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
}

export class PresenceView implements SessionPresenceView {
  private readonly map = new Map<string, PresenceMember>();
  private readonly listeners = new Set<(change: PresenceViewChange) => void>();

  constructor(
    private readonly session: string,
    private readonly fetchSnapshot: () => Promise<PresenceMember[]>,
  ) {}

  get members(): PresenceMember[] {
    return [...this.map.values()];
  }

  onChange(cb: (change: PresenceViewChange) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  async refresh(): Promise<void> {
    const members = await this.fetchSnapshot();
    this.map.clear();
    for (const m of members) this.map.set(`${m.kind}.${m.id}`, m);
    notifyAll(this.listeners, { members: this.members });
  }

  /** Applies a session event; non-presence events are ignored. */
  apply(event: SessionEvent): void {
    if (!event.type.startsWith("presence.")) return;
    const member = applyPresenceEvent(this.map, event.type, event.data);
    if (!member) return;
    const transition = { session: this.session, type: event.type, data: event.data } as PresenceTransition;
    notifyAll(this.listeners, { members: this.members, transition });
  }
}
