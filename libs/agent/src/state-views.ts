import { ErrorCode, isObjectName, type JsonValue, Lane, STATE_EVENT_TYPE, ThreadlineError } from "@threadline/protocol";
import { createSessionStateStore } from "@threadline/store";
import { connectionOf } from "./agent.ts";
import type { Agent } from "./agent-api.ts";
import { createStateHandle, type StateHandle, type StateWriter } from "./state-handle.ts";
import { SessionStateView } from "./state-view.ts";

/**
 * Bounds of the state views of one agent connection. A view is one ordered
 * consumer on the server and one session's objects in memory.
 */
export const STATE_VIEW_LIMITS = {
  /** Sessions whose state one agent follows at once. Past it, idle views close first; else `TOO_MANY_SESSIONS`. */
  maxViews: 256,
  /** An unused view stays open this long, so the next turn of the session starts without reading the lane again. */
  lingerMs: 30_000,
} as const;

export interface StateViewLease {
  readonly view: SessionStateView;
  /** Gives the view back; the last release closes it after `lingerMs`. Idempotent. */
  release(): void;
}

interface Entry {
  opening: Promise<SessionStateView>;
  refs: number;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * ONE state view per (agent, session), shared by every turn and bound session
 * of that session in this process: opened on first use, reference-counted,
 * closed `lingerMs` after the last user released it, and all closed when the
 * agent closes.
 */
export class StateViews {
  private readonly entries = new Map<string, Entry>();
  private readonly store;

  constructor(
    private readonly agent: Agent,
    private readonly limits: { maxViews: number; lingerMs: number } = STATE_VIEW_LIMITS,
  ) {
    this.store = createSessionStateStore({ ...connectionOf(agent), info: agent.info });
  }

  /** The number of views open (in use or lingering). */
  get size(): number {
    return this.entries.size;
  }

  async acquire(session: string): Promise<StateViewLease> {
    let entry = this.entries.get(session);
    if (!entry) {
      if (this.entries.size >= this.limits.maxViews) this.closeOneIdle();
      if (this.entries.size >= this.limits.maxViews) {
        throw new ThreadlineError(
          ErrorCode.TOO_MANY_SESSIONS,
          `this agent already follows the state of ${this.limits.maxViews} sessions in use`,
          { session, retryable: true },
        );
      }
      const opened: Entry = {
        opening: SessionStateView.open(this.store, session, { kind: this.agent.kind, id: this.agent.id }),
        refs: 0,
      };
      opened.opening.catch(() => {
        if (this.entries.get(session) === opened) this.entries.delete(session);
      });
      this.entries.set(session, opened);
      entry = opened;
    }
    const held = entry;
    held.refs++;
    clearTimeout(held.timer);
    let view: SessionStateView;
    try {
      view = await held.opening;
    } catch (error) {
      held.refs--;
      throw error;
    }
    let released = false;
    return {
      view,
      release: () => {
        if (released) return;
        released = true;
        if (--held.refs > 0) return;
        held.timer = setTimeout(() => this.closeEntry(session, held), this.limits.lingerMs);
        held.timer.unref?.();
      },
    };
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries];
    this.entries.clear();
    await Promise.allSettled(
      all.map(async ([, entry]) => {
        clearTimeout(entry.timer);
        await (await entry.opening).close();
      }),
    );
  }

  private closeOneIdle(): void {
    for (const [session, entry] of this.entries) {
      if (entry.refs === 0) {
        this.closeEntry(session, entry);
        return;
      }
    }
  }

  private closeEntry(session: string, entry: Entry): void {
    if (this.entries.get(session) !== entry || entry.refs > 0) return;
    clearTimeout(entry.timer);
    this.entries.delete(session);
    void entry.opening.then((view) => view.close()).catch(() => {});
  }
}

const registries = new WeakMap<Agent, StateViews>();

/** The state views of an agent connection, created on first use. */
export function stateViewsOf(agent: Agent): StateViews {
  let views = registries.get(agent);
  if (!views) {
    views = new StateViews(agent);
    registries.set(agent, views);
  }
  return views;
}

/** Closes every state view of `agent` (its `close()` calls this). */
export async function closeStateViews(agent: Agent): Promise<void> {
  await registries.get(agent)?.closeAll();
}

/**
 * The state handles one user (a turn, a bound session) opens in one session:
 * one lease on the shared view, taken on the first `handle`, released by
 * `release()` — after which the handles' writes and waits reject `CLOSED`.
 */
export class SessionStateUser {
  private lease: Promise<StateViewLease> | undefined;
  private released = false;
  private readonly releaseHooks = new Set<(error: ThreadlineError) => void>();

  constructor(
    private readonly agent: Agent,
    private readonly session: string,
    /** Runs before every write (a turn's lease guard). */
    private readonly guard: () => Promise<void> = async () => {},
  ) {}

  /** A handle on object `name`, from a view that has applied every state event up to `atLeast` (if given). */
  async handle<T extends JsonValue>(name: string, atLeast?: number): Promise<StateHandle<T>> {
    if (!isObjectName(name)) {
      throw new ThreadlineError(
        ErrorCode.INVALID_FRAME,
        `state object name ${JSON.stringify(name)} is not [A-Za-z0-9_-]{1,64}`,
        {
          session: this.session,
        },
      );
    }
    this.check();
    if (!this.lease) {
      this.lease = stateViewsOf(this.agent).acquire(this.session);
      this.lease.catch(() => {
        this.lease = undefined;
      });
    }
    const { view } = await this.lease;
    if (this.released) throw this.closed();
    if (atLeast !== undefined) await view.syncTo(atLeast);
    const writer: StateWriter = {
      from: { kind: this.agent.kind, id: this.agent.id },
      check: () => this.check(),
      onRelease: (hook) => {
        this.releaseHooks.add(hook);
        return () => this.releaseHooks.delete(hook);
      },
      publish: async (op, id) => {
        await this.guard();
        return this.agent.publish(this.session, { type: STATE_EVENT_TYPE, id, data: op }, { lane: Lane.ST });
      },
    };
    return createStateHandle<T>(view, name, writer);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    const error = this.closed();
    for (const hook of [...this.releaseHooks]) hook(error);
    this.releaseHooks.clear();
    void this.lease?.then((l) => l.release()).catch(() => {});
  }

  private check(): void {
    if (this.released) throw this.closed();
  }

  private closed(): ThreadlineError {
    return new ThreadlineError(
      ErrorCode.CLOSED,
      `the state handles of ${this.session} were released (turn or session ended)`,
      {
        session: this.session,
      },
    );
  }
}
