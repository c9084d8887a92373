import {
  type Approver,
  ControlEventType,
  type ControlOwnerEntry,
  INPUT_EVENT_TYPE,
  isFinalTurnStatus,
  isTurnId,
  type SessionRecord,
  TurnEventType,
  type TurnStatus,
  turnEventProblem,
} from "@threadline/protocol";
import { notifyAll } from "./report-error.ts";

/** A turn as the session's events describe it. */
export interface TurnView {
  id: string;
  /** `pending` from the input / turn.request until a worker's `turn.start`. */
  status: TurnStatus;
  agent?: string;
  worker?: string;
  parent?: string;
  /** Seq of the event that made the view aware of the turn. */
  seq: number;
  /** From `turn.end`. */
  reason?: string;
  error?: string;
}

/** An open client tool call or approval request: a prompt to show until it is answered or closed. */
export interface CallView {
  call: string;
  turn: string | undefined;
  kind: "tool" | "approval";
  /** Tool calls: the tool and its arguments. */
  name?: string;
  args?: unknown;
  /** Approval requests: what is to be approved, and by whom. */
  action?: string;
  details?: unknown;
  approvers?: Approver[];
  /** The agent's deadline (its clock): event `ts` + `timeoutMs`. */
  deadline: number;
  seq: number;
}

export type SessionOwner = { kind: "operator"; id: string } | null;

/** What `onChange` listeners receive (the same arrays/values as the view's properties). */
export interface ControlViewChange {
  active: readonly TurnView[];
  calls: readonly CallView[];
  owner: SessionOwner;
  /** Seq of the event that changed the view; absent when the gateway's owner snapshot did. */
  seq?: number;
}

/**
 * Turns, open calls and the session owner, folded from the session's
 * `input`, `turn.*`, `cancel`, `tool.call`, `approval.request`,
 * `call.closed`, `tool.result`, `approval` and `handoff` events as the handle
 * applies them (PROTOCOL.md §17.8). A `cancel` of a turn still `pending`
 * ends it `cancelled` (no worker will run it); an `input` while an operator
 * owns the session starts no turn (the agents stay silent). Only events at or after the attachment's start
 * position count: attach from `"start"` for the whole picture. Bounded:
 * at most {@link MAX_ENDED_TURNS} ended turns and {@link MAX_OPEN_CALLS}
 * open calls are kept (the oldest are forgotten first).
 */
export interface SessionControlView {
  /** The operator who owns the session, or null while the agents do. */
  readonly owner: SessionOwner;
  /**
   * True after a `handoff request`, until an operator's take or release. The
   * owner is also seeded once per handle from the gateway
   * (`GET /v1/sessions/:id/control`) after the first sync, so a device that
   * resumed after the last handoff event still knows it.
   */
  readonly handoffRequested: boolean;
  /** Turns that have not ended (pending or running), by seq; replaced on every change. */
  readonly active: readonly TurnView[];
  /** The turn `id` (active, or among the last ended ones). */
  turn(id: string): TurnView | undefined;
  /** Open calls by seq; replaced on every change. */
  readonly calls: readonly CallView[];
  /** Calls `cb` after each event that changed the view. Returns an unsubscribe function. */
  onChange(cb: (change: ControlViewChange) => void): () => void;
}

export const MAX_ENDED_TURNS = 256;
export const MAX_OPEN_CALLS = 256;

type Data = Record<string, unknown>;
const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

export class ControlView implements SessionControlView {
  /** The owner snapshot was requested (reset when it failed, to retry after the next sync). */
  private seeded = false;
  /** A take/release event was applied: events, newer than any earlier snapshot, decide the owner. */
  private ownerFromEvents = false;
  private readonly turns = new Map<string, TurnView>();
  /** Ended turn ids, oldest first (for the bound). */
  private readonly ended: string[] = [];
  private readonly openCalls = new Map<string, CallView>();
  private activeValue: readonly TurnView[] = [];
  private callsValue: readonly CallView[] = [];
  private ownerValue: SessionOwner = null;
  private requested = false;
  private readonly listeners = new Set<(change: ControlViewChange) => void>();

  /** @param snapshot reads the owner entry from the gateway (`seedOwner`). */
  constructor(private readonly snapshot?: () => Promise<ControlOwnerEntry | null>) {}

  get owner(): SessionOwner {
    return this.ownerValue;
  }

  get handoffRequested(): boolean {
    return this.requested;
  }

  get active(): readonly TurnView[] {
    return this.activeValue;
  }

  get calls(): readonly CallView[] {
    return this.callsValue;
  }

  turn(id: string): TurnView | undefined {
    return this.turns.get(id);
  }

  onChange(cb: (change: ControlViewChange) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /**
   * Seeds the owner from the gateway's snapshot, once (again after a failure),
   * unless a take/release event has set it in the meantime.
   */
  seedOwner(): void {
    if (this.seeded || !this.snapshot) return;
    this.seeded = true;
    this.snapshot().then(
      (entry) => {
        const owner = entry?.owner ?? null;
        if (this.ownerFromEvents || owner?.id === this.ownerValue?.id) return;
        this.ownerValue = owner;
        notifyAll(this.listeners, { active: this.activeValue, calls: this.callsValue, owner });
      },
      () => {
        this.seeded = false;
      },
    );
  }

  apply(record: SessionRecord): void {
    if (!this.fold(record)) return;
    this.activeValue = [...this.turns.values()]
      .filter((t) => !isFinalTurnStatus(t.status))
      .sort((a, b) => a.seq - b.seq);
    this.callsValue = [...this.openCalls.values()].sort((a, b) => a.seq - b.seq);
    notifyAll(this.listeners, {
      active: this.activeValue,
      calls: this.callsValue,
      owner: this.ownerValue,
      seq: record.seq,
    });
  }

  /** Applies one event; true when the view changed. Malformed agent turn events are ignored. */
  private fold({ seq, event }: SessionRecord): boolean {
    if (turnEventProblem(event.type, event) !== undefined) return false;
    const data = (typeof event.data === "object" && event.data !== null ? event.data : {}) as Data;
    switch (event.type) {
      case INPUT_EVENT_TYPE:
        // While an operator owns the session, entry pools stay silent: the input starts no turn (§17.6).
        if (this.ownerValue !== null || !isTurnId(event.id) || this.turns.has(event.id)) return false;
        this.turns.set(event.id, { id: event.id, status: "pending", seq });
        return true;
      case TurnEventType.REQUEST:
        return this.update(
          event.turn,
          seq,
          { status: "pending", agent: str(data.agent), parent: str(data.parent) },
          true,
        );
      case TurnEventType.START:
        return this.update(event.turn, seq, {
          status: "running",
          agent: str(data.agent),
          worker: str(data.worker),
          parent: str(data.parent),
        });
      case TurnEventType.RESUMED:
        return this.update(event.turn, seq, { status: "running", worker: str(data.worker) });
      case TurnEventType.END: {
        if (!isFinalTurnStatus(data.status)) return false;
        for (const [id, call] of this.openCalls) if (call.turn === event.turn) this.openCalls.delete(id);
        return this.update(event.turn, seq, { status: data.status, reason: str(data.reason), error: str(data.error) });
      }
      case TurnEventType.TOOL_CALL:
      case TurnEventType.APPROVAL_REQUEST:
        return this.openCall(seq, event.type, event.turn, event.ts, data);
      case ControlEventType.CANCEL: {
        // A turn cancelled before any worker started it ends here (the gateway marked it cancelled, §17.4).
        const current = isTurnId(event.turn) ? this.turns.get(event.turn) : undefined;
        if (current?.status !== "pending") return false;
        return this.update(event.turn, seq, { status: "cancelled", reason: str(data.reason) });
      }
      case TurnEventType.CALL_CLOSED:
      case ControlEventType.TOOL_RESULT:
      case ControlEventType.APPROVAL:
        return event.ref !== undefined && this.openCalls.delete(event.ref);
      case ControlEventType.HANDOFF:
        if (data.action === "request") this.requested = true;
        else if (data.action === "take" && event.from.kind === "operator") {
          this.ownerValue = { kind: "operator", id: event.from.id };
          this.requested = false;
          this.ownerFromEvents = true;
        } else if (data.action === "release" && event.from.kind === "operator") {
          this.ownerValue = null;
          this.requested = false;
          this.ownerFromEvents = true;
        } else return false;
        return true;
      default:
        return false;
    }
  }

  private update(turn: string | undefined, seq: number, patch: Partial<TurnView>, onlyNew = false): boolean {
    if (!isTurnId(turn)) return false;
    const current = this.turns.get(turn);
    if (current && onlyNew) return false;
    if (current && isFinalTurnStatus(current.status)) return false;
    const next: TurnView = { ...(current ?? { id: turn, status: "pending", seq }) };
    for (const [key, value] of Object.entries(patch)) {
      if (value !== undefined) (next as unknown as Data)[key] = value;
    }
    this.turns.set(turn, next);
    if (isFinalTurnStatus(next.status)) {
      this.ended.push(turn);
      if (this.ended.length > MAX_ENDED_TURNS) this.turns.delete(this.ended.shift()!);
    }
    return true;
  }

  private openCall(seq: number, type: string, turn: string | undefined, ts: number, data: Data): boolean {
    const call = str(data.call);
    if (call === undefined) return false;
    const timeoutMs = typeof data.timeoutMs === "number" ? data.timeoutMs : 0;
    const view: CallView =
      type === TurnEventType.TOOL_CALL
        ? { call, turn, kind: "tool", name: str(data.name), args: data.args, deadline: ts + timeoutMs, seq }
        : {
            call,
            turn,
            kind: "approval",
            action: str(data.action),
            details: data.details,
            approvers: Array.isArray(data.approvers) ? (data.approvers as Approver[]) : undefined,
            deadline: ts + timeoutMs,
            seq,
          };
    for (const [key, value] of Object.entries(view)) if (value === undefined) delete (view as unknown as Data)[key];
    this.openCalls.set(call, view);
    if (this.openCalls.size > MAX_OPEN_CALLS) this.openCalls.delete(this.openCalls.keys().next().value!);
    return true;
  }
}
