import {
  ErrorCode,
  type JsonValue,
  type Participant,
  type SessionRecord,
  type SessionState,
  STATE_EVENT_TYPE,
  type StateObject,
  type StateRejection,
  stateRejectionError,
  stepState,
  ThreadlineError,
} from "@threadline/protocol";
import { notifyAll } from "./report-error.ts";

/** One applied change of a shared state object (PROTOCOL.md §19), from any device or agent. */
export interface StateChange {
  /** The object's name. */
  object: string;
  /** Its value after the change; undefined when the object was deleted (or is not in a reloaded snapshot). */
  value: JsonValue | undefined;
  /** Its version after the change: the seq of the operation applied (0: the object does not exist). */
  version: number;
  /** Who made the change; undefined when a reloaded snapshot no longer holds the object. */
  updatedBy: { kind: string; id: string } | undefined;
  /** The session position of the change (the operation's seq, or the snapshot's). */
  seq: number;
}

interface PendingWrite {
  object: string;
  resolve: (version: number) => void;
  reject: (error: ThreadlineError) => void;
  /** The stored op's seq, once `published` told it. */
  seq: number | undefined;
}

/**
 * The session's shared state as this handle holds it: the fold (`stepState`)
 * of every record the handle applies, or a `state` snapshot replacing it,
 * plus change listeners and the writes waiting for their verdict.
 *
 * Values are frozen: the fold shares them between versions, so a caller
 * mutating one would make this device diverge from every other.
 *
 * Writes waiting here are bounded by what the client may have in flight
 * (`limits.maxPendingPublishes`) plus ops stored but not yet folded; each
 * settles when the fold reaches it or when the handle ends.
 */
export class StateView {
  private current: SessionState = frozenEmpty();
  private readonly listeners = new Set<(change: StateChange) => void>();
  private readonly pending = new Map<string, PendingWrite>();

  constructor(private readonly session: string) {}

  get state(): SessionState {
    return this.current;
  }

  object(name: string): StateObject | undefined {
    return this.current.objects[name];
  }

  onChange(listener: (change: StateChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Folds one applied record (every record, state or not: non-state ones advance the seq). */
  apply(record: SessionRecord): void {
    const { state, outcome } = stepState(this.current, record);
    if (outcome === "duplicate") return;
    this.current = state;
    if (record.event.type !== STATE_EVENT_TYPE) return;
    const name = (record.event.data as { object?: unknown } | undefined)?.object;
    if (outcome === "applied" && typeof name === "string") {
      // The fold copies the map before changing it, so freezing it (and the changed object) is safe.
      Object.freeze(state.objects);
      const object = state.objects[name];
      if (object) deepFreeze(object);
      this.notify(name, object, record.seq, record.event.from);
    }
    const write = this.pending.get(record.event.id);
    if (!write) return;
    this.pending.delete(record.event.id);
    if (outcome === "applied") write.resolve(state.objects[write.object]?.version ?? 0);
    else write.reject(stateRejectionError(outcome as StateRejection, write.object, this.session));
  }

  /** Replaces the state with a `state` snapshot at `seq` (§19.5); listeners hear of every object that differs. */
  replace(seq: number, objects: Record<string, StateObject>): void {
    const next: Record<string, StateObject> = {};
    for (const [name, object] of Object.entries(objects)) {
      if (isStateObject(object)) next[name] = deepFreeze(object);
    }
    this.swap({ seq, objects: Object.freeze(next) });
  }

  /** Drops every object (the state belonged to another epoch). */
  reset(): void {
    this.swap(frozenEmpty());
  }

  /**
   * Tracks the write published as event `id`: it settles when the fold
   * applies that event — with the object's version, or the verdict's error.
   */
  track(id: string, object: string, published: Promise<{ seq: number }>): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const write: PendingWrite = { object, resolve, reject, seq: undefined };
      this.pending.set(id, write);
      published.then(
        ({ seq }) => {
          write.seq = seq;
          if (this.pending.get(id) === write && this.current.seq >= seq) this.settleUnseen(id, write);
        },
        (error: unknown) => {
          if (this.pending.get(id) !== write) return;
          this.pending.delete(id);
          reject(error);
        },
      );
    });
  }

  /** The handle ended: writes still waiting for their verdict fail with `error`. */
  end(error: ThreadlineError): void {
    const writes = [...this.pending.values()];
    this.pending.clear();
    for (const write of writes) write.reject(error);
  }

  private swap(next: SessionState): void {
    const before = this.current.objects;
    this.current = next;
    for (const name of new Set([...Object.keys(before), ...Object.keys(next.objects)])) {
      const object = next.objects[name];
      if (before[name]?.version !== object?.version) this.notify(name, object, next.seq, object?.updatedBy);
    }
    for (const [id, write] of this.pending) {
      if (write.seq !== undefined && write.seq <= next.seq) this.settleUnseen(id, write);
    }
  }

  /**
   * A write stored at or below the state's seq whose event this handle never
   * folded: a snapshot taken after it replaced the state. Applied if the
   * object still carries its seq as version; otherwise a later op may have
   * overwritten it or it was rejected — the snapshot cannot tell which.
   */
  private settleUnseen(id: string, write: PendingWrite): void {
    this.pending.delete(id);
    const version = this.current.objects[write.object]?.version ?? 0;
    if (version === write.seq) {
      write.resolve(version);
      return;
    }
    write.reject(
      new ThreadlineError(
        ErrorCode.STATE_CONFLICT,
        `the write to state object ${write.object} (seq ${write.seq}) was superseded by a reloaded snapshot; read the object again`,
        { session: this.session },
      ),
    );
  }

  private notify(
    object: string,
    state: StateObject | undefined,
    seq: number,
    by: Participant | StateObject["updatedBy"] | undefined,
  ): void {
    if (this.listeners.size === 0) return;
    const change: StateChange = {
      object,
      value: state?.value,
      version: state?.version ?? 0,
      updatedBy: by && { kind: by.kind, id: by.id },
      seq,
    };
    notifyAll(this.listeners, change);
  }
}

function frozenEmpty(): SessionState {
  return { seq: 0, objects: Object.freeze({}) };
}

function isStateObject(value: unknown): value is StateObject {
  if (typeof value !== "object" || value === null) return false;
  const o = value as Partial<StateObject>;
  return "value" in o && Number.isSafeInteger(o.version) && typeof o.updatedBy === "object" && o.updatedBy !== null;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
