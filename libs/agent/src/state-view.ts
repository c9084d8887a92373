import {
  ErrorCode,
  emptySessionState,
  type SessionState,
  type StateObject,
  type StateOutcome,
  stepState,
  ThreadlineError,
} from "@threadline/protocol";
import type { SessionStateStore, StateFollower, SubjectRecord } from "@threadline/store";

/** How a stored write of this view's writer ended (PROTOCOL.md §19.4). */
export interface WriteOutcome {
  seq: number;
  outcome: StateOutcome;
  /** The object's version right after the op: its seq when applied, 0 when the object does not exist then. */
  version: number;
}

/** Called after an operation on the object was applied, with the object (`undefined`: deleted). */
export type ObjectListener = (object: StateObject | undefined) => void;

/**
 * If the live follower has not applied a write's seq this long after its ack,
 * the view reads the lane once itself (NATS trouble delays the live consumer).
 */
export const WRITE_CATCH_UP_MS = 1_000;

/**
 * One session's objects as this process sees them: a snapshot read at open
 * (`SessionStateStore.read`), then every state event the live follower
 * delivers, folded with `stepState` — so the view at seq `p` equals every
 * other participant's at `p`. It also tells a writer how its stored op ended:
 * `expect(eventId)` before publishing, `settle(eventId, seq)` after the ack.
 */
export class SessionStateView {
  private current: SessionState = emptySessionState();
  private readonly listeners = new Map<string, Set<ObjectListener>>();
  private readonly pending = new Map<string, (outcome: WriteOutcome) => void>();
  private readonly closeHooks = new Set<(error: ThreadlineError) => void>();
  private follower: StateFollower | undefined;
  private syncing: Promise<void> | undefined;
  private closedWith: ThreadlineError | undefined;

  private constructor(
    readonly session: string,
    private readonly store: SessionStateStore,
    private readonly writer: { kind: string; id: string },
  ) {}

  /** Reads the session's state at the current position and follows it from there. */
  static async open(
    store: SessionStateStore,
    session: string,
    writer: { kind: string; id: string },
  ): Promise<SessionStateView> {
    const view = new SessionStateView(session, store, writer);
    view.current = await store.read(session);
    // The snapshot holds every state event up to its seq: following from there leaves no gap.
    view.follower = await store.follow(session, view.current.seq, (r) => view.apply(r));
    return view;
  }

  get state(): SessionState {
    return this.current;
  }

  get closed(): ThreadlineError | undefined {
    return this.closedWith;
  }

  object(name: string): StateObject | undefined {
    return this.current.objects[name];
  }

  /** Listens to the applied operations on `name`; returns the unsubscribe function. */
  listen(name: string, listener: ObjectListener): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(name);
      current?.delete(listener);
      if (current?.size === 0) this.listeners.delete(name);
    };
  }

  /** Runs `hook` once when the view closes, with the reason; returns its removal. */
  onClose(hook: (error: ThreadlineError) => void): () => void {
    this.closeHooks.add(hook);
    return () => {
      this.closeHooks.delete(hook);
    };
  }

  /**
   * Brings the view to at least `seq` (a position the caller knows is
   * stored, e.g. a turn's input) by reading what the live follower may not
   * have delivered yet. Concurrent calls share one read at a time.
   */
  async syncTo(seq: number): Promise<void> {
    while (this.current.seq < seq) {
      if (this.closedWith) throw this.closedWith;
      if (!this.syncing) {
        const after = this.current.seq;
        this.syncing = this.store
          .catchUp(this.session, after, (r) => this.apply(r), seq)
          .then((reached) => {
            if (reached > this.current.seq) this.current = { seq: reached, objects: this.current.objects };
          })
          .finally(() => {
            this.syncing = undefined;
          });
      }
      await this.syncing;
    }
  }

  /** Registers a write whose event id is `id` before it is published: `settle` resolves with its outcome. */
  expect(id: string): Promise<WriteOutcome> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve) => this.pending.set(id, resolve));
  }

  /** Drops a write that was not stored (its publish failed). */
  forget(id: string): void {
    this.pending.delete(id);
  }

  /**
   * Waits until the view applied the stored write `id` at `seq`: the live
   * follower usually delivers it first; after `WRITE_CATCH_UP_MS` the view
   * reads the lane itself. Rejects `UNAVAILABLE` when that read fails,
   * `CLOSED` when the view closes first.
   */
  async settle(id: string, seq: number, outcome: Promise<WriteOutcome>): Promise<WriteOutcome> {
    if (this.closedWith) {
      this.pending.delete(id);
      throw this.closedWith;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    let removeCloseHook = () => {};
    const caughtUp = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.syncTo(seq).then(() => {
          if (this.pending.has(id)) {
            this.pending.delete(id);
            reject(
              new ThreadlineError(ErrorCode.INTERNAL, `state write ${id} at seq ${seq} was not found in the lane`),
            );
          }
        }, reject);
      }, WRITE_CATCH_UP_MS);
    });
    const closed = new Promise<never>((_, reject) => {
      removeCloseHook = this.onClose(reject);
    });
    try {
      return await Promise.race([outcome, caughtUp, closed]);
    } finally {
      clearTimeout(timer);
      removeCloseHook();
      this.pending.delete(id);
    }
  }

  /** Folds one record (records at or below the view's seq are ignored) and tells writers and listeners. */
  apply(record: SubjectRecord): void {
    const { state, outcome } = stepState(this.current, record);
    if (outcome === "duplicate") return;
    this.current = state;
    const from = record.event.from;
    const waiting = this.pending.get(record.event.id);
    if (waiting && from.kind === this.writer.kind && from.id === this.writer.id) {
      this.pending.delete(record.event.id);
      const name = (record.event.data as { object?: unknown } | undefined)?.object;
      const version = typeof name === "string" ? (state.objects[name]?.version ?? 0) : 0;
      waiting({ seq: record.seq, outcome, version });
    }
    if (outcome !== "applied") return;
    const name = (record.event.data as { object: string }).object;
    const object = state.objects[name];
    for (const listener of [...(this.listeners.get(name) ?? [])]) {
      try {
        listener(object);
      } catch {
        // one listener's failure does not stop the others
      }
    }
  }

  /** Stops following; pending writes and waiters reject with `CLOSED`. Idempotent. */
  async close(): Promise<void> {
    if (this.closedWith) return;
    this.closedWith = new ThreadlineError(
      ErrorCode.CLOSED,
      `the state of ${this.session} is no longer followed here (its session or turn ended, or the agent closed)`,
      { session: this.session },
    );
    for (const hook of [...this.closeHooks]) hook(this.closedWith);
    this.closeHooks.clear();
    this.pending.clear();
    this.listeners.clear();
    await this.follower?.close();
  }
}
