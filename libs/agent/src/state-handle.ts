import {
  ErrorCode,
  type JsonValue,
  newId,
  type PathSegment,
  previewStateOp,
  type StateObject,
  type StateOp,
  stateOpProblem,
  stateRejectionError,
  ThreadlineError,
} from "@threadline/protocol";
import type { PublishAck } from "./agent-api.ts";
import type { SessionStateView } from "./state-view.ts";

/** Options of every write: `ifVersion` makes it a compare-and-set (`0`: only if the object does not exist). */
export interface StateWriteOptions {
  ifVersion?: number;
}

/** Options of `waitFor`. */
export interface StateWaitOptions {
  /** Aborting rejects with the signal's reason (a turn passes `ctx.signal` to stop waiting on cancel). */
  signal?: AbortSignal;
  /** Rejects with `TIMEOUT` after this long. Default: no timeout. */
  timeoutMs?: number;
}

/**
 * One state object of a session (PROTOCOL.md §19), as this agent's view of
 * the session holds it — kept current by the session's stored state events,
 * whoever wrote them (users' devices, other agents, operators).
 *
 * Writes are checked against the view first (`previewStateOp`): an op
 * certain to fail is refused without storing (`STATE_CONFLICT`,
 * `STATE_PATH`, `STATE_TOO_LARGE`, `FORBIDDEN`, `INVALID_FRAME`). A stored op
 * resolves once the view applied its seq: with the object's new version when
 * it was applied, or rejects with the verdict every participant reached
 * (e.g. `STATE_CONFLICT` when another writer's op came first).
 * @example
 *   const checklist = await ctx.state<{ steps: string[]; done: number }>("agent-checklist");
 *   await checklist.set([], { steps: ["find", "pay"], done: 0 });
 *   await checklist.increment(["done"]);
 *   const cart = await ctx.state<{ items: string[] }>("cart");
 *   await cart.waitFor((c) => (c?.items.length ?? 0) > 0, { signal: ctx.signal, timeoutMs: 60_000 });
 */
export interface StateHandle<T extends JsonValue = JsonValue> {
  readonly session: string;
  readonly name: string;
  /** The object's value (`undefined`: it does not exist). Values are shared: treat them as read-only. */
  get(): T | undefined;
  /** Stream seq of the last op applied to it; 0 when it does not exist. */
  readonly version: number;
  /** Who applied that op. */
  readonly updatedBy: { kind: string; id: string } | undefined;
  /**
   * Calls `listener` after every op applied to the object (from anyone);
   * returns the unsubscribe function. Listeners are removed when the handle
   * is released (the turn or bound session ends).
   */
  subscribe(listener: (value: T | undefined, object: StateObject | undefined) => void): () => void;
  /**
   * Resolves with the value once `predicate` holds for it — at once if it
   * already does, else on the first applied change that makes it hold.
   * Rejects `TIMEOUT` after `timeoutMs`, with the signal's reason on abort,
   * `CLOSED` when the view is released.
   */
  waitFor(
    predicate: (value: T | undefined, object: StateObject | undefined) => boolean,
    options?: StateWaitOptions,
  ): Promise<T | undefined>;
  /** Sets the value at `path` (`[]`: the whole value). Resolves with the object's new version. */
  set(path: StatePath, value: JsonValue, options?: StateWriteOptions): Promise<number>;
  /** JSON Merge Patch (RFC 7386) of `patch` into the value at `options.path` (default: the whole value). */
  merge(patch: { [key: string]: JsonValue }, options?: StateWriteOptions & { path?: StatePath }): Promise<number>;
  /** Deletes the key or element at `path` (default `[]`: the object). Resolves with the new version (0 once deleted). */
  delete(path?: StatePath, options?: StateWriteOptions): Promise<number>;
  /** Adds `by` (default 1) to the number at `path` (missing: 0). */
  increment(path: StatePath, by?: number, options?: StateWriteOptions): Promise<number>;
  /** Inserts `value` into the list at `path` before `index` (default: append). */
  insert(path: StatePath, value: JsonValue, index?: number, options?: StateWriteOptions): Promise<number>;
  /** Removes the element at `index` of the list at `path`. */
  remove(path: StatePath, index: number, options?: StateWriteOptions): Promise<number>;
}

/** A path: keys and list indexes (`[]`: the whole value), or one key as a string (same as the client SDK). */
export type StatePath = readonly PathSegment[] | string;

/** How a handle stores an op: `publish` is `agent.publish(session, {type: "state", id, data: op}, {lane: "st"})`. */
export interface StateWriter {
  readonly from: { kind: string; id: string };
  publish(op: StateOp, id: string): Promise<PublishAck>;
  /** Throws when the handle may no longer be used (its turn or session ended). */
  check(): void;
  /** Runs `hook` when the handle's user is released (waits then reject with its error); returns its removal. */
  onRelease(hook: (error: ThreadlineError) => void): () => void;
}

export function createStateHandle<T extends JsonValue>(
  view: SessionStateView,
  name: string,
  writer: StateWriter,
): StateHandle<T> {
  const session = view.session;
  const object = () => view.object(name);
  const write = async (op: StateOp): Promise<number> => {
    writer.check();
    const problem = stateOpProblem(op);
    if (problem) throw new ThreadlineError(ErrorCode.INVALID_FRAME, `state ${name}: ${problem}`, { session });
    const verdict = previewStateOp(view.state, op, writer.from);
    if (verdict !== "applied") throw stateRejectionError(verdict as never, name, session);
    const id = newId();
    const outcome = view.expect(id);
    let ack: PublishAck;
    try {
      ack = await writer.publish(op, id);
    } catch (error) {
      view.forget(id);
      throw error;
    }
    const settled = await view.settle(id, ack.seq, outcome);
    if (settled.outcome !== "applied") throw stateRejectionError(settled.outcome as never, name, session);
    return settled.version;
  };
  const base = (op: StateOp["op"], path: StatePath, options: StateWriteOptions | undefined) => ({
    object: name,
    op,
    path: typeof path === "string" ? [path] : [...path],
    ...(options?.ifVersion === undefined ? {} : { ifVersion: options.ifVersion }),
  });
  return {
    session,
    name,
    get: () => object()?.value as T | undefined,
    get version() {
      return object()?.version ?? 0;
    },
    get updatedBy() {
      return object()?.updatedBy;
    },
    subscribe: (listener) => {
      writer.check();
      // The view outlives the handle's turn: a listener left subscribed is removed when the handle is released.
      const off = view.listen(name, (o) => listener(o?.value as T | undefined, o));
      const removeRelease = writer.onRelease(off);
      return () => {
        off();
        removeRelease();
      };
    },
    waitFor: (predicate, options = {}) => waitForValue(view, name, predicate, options, writer),
    set: (path, value, options) => write({ ...base("set", path, options), value } as StateOp),
    merge: (patch, options) => write({ ...base("merge", options?.path ?? [], options), value: patch } as StateOp),
    delete: (path = [], options) => write(base("delete", path, options) as StateOp),
    increment: (path, by, options) =>
      write({ ...base("increment", path, options), ...(by === undefined ? {} : { by }) } as StateOp),
    insert: (path, value, index, options) =>
      write({ ...base("insert", path, options), value, ...(index === undefined ? {} : { index }) } as StateOp),
    remove: (path, index, options) => write({ ...base("remove", path, options), index } as StateOp),
  };
}

function waitForValue<T>(
  view: SessionStateView,
  name: string,
  predicate: (value: T | undefined, object: StateObject | undefined) => boolean,
  options: StateWaitOptions,
  writer: StateWriter,
): Promise<T | undefined> {
  writer.check();
  const now = view.object(name);
  if (predicate(now?.value as T | undefined, now)) return Promise.resolve(now?.value as T | undefined);
  const { signal, timeoutMs } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = () => {
      unsubscribe();
      removeClose();
      removeRelease();
      signal?.removeEventListener("abort", onAbort);
      clearTimeout(timer);
    };
    const unsubscribe = view.listen(name, (o) => {
      let holds: boolean;
      try {
        holds = predicate(o?.value as T | undefined, o);
      } catch (error) {
        done();
        reject(error);
        return;
      }
      if (!holds) return;
      done();
      resolve(o?.value as T | undefined);
    });
    const ended = (error: ThreadlineError) => {
      done();
      reject(error);
    };
    const removeClose = view.onClose(ended);
    const removeRelease = writer.onRelease(ended);
    const onAbort = () => {
      done();
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        done();
        reject(
          new ThreadlineError(
            ErrorCode.TIMEOUT,
            `state ${name} did not reach the awaited value within ${timeoutMs} ms`,
            {
              session: view.session,
            },
          ),
        );
      }, timeoutMs);
    }
  });
}
