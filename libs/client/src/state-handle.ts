import {
  type ClientEvent,
  checkStateOp,
  ErrorCode,
  isObjectName,
  type JsonValue,
  newId,
  type PathSegment,
  previewStateOp,
  STATE_EVENT_TYPE,
  type StateOp,
  type StateRejection,
  stateRejectionError,
  ThreadlineError,
} from "@threadline/protocol";
import type { PublishResult } from "./publish-queue.ts";
import type { StateChange, StateView } from "./state-view.ts";

/** A path into an object: keys and list indexes; a single string is a one-key path. */
export type StatePath = readonly PathSegment[] | string;

/** Compare-and-set: apply the write only if the object's version is still `ifVersion` (0: it does not exist). */
export interface StateWriteOptions {
  ifVersion?: number;
}

/**
 * One shared state object of a session (PROTOCOL.md §19), as this device
 * holds it: `session.state("cart")`. Reads are local and synchronous; every
 * change — from this device, another device, an agent or an operator — is
 * applied in the session's stream order and reported to `subscribe`.
 *
 * Writes are checked against the local view first (a write that is certain
 * to fail rejects with its typed error and sends nothing), then published
 * like any event (queued while offline, resent with the same id, stored
 * once), and resolve once this device's view has applied the stored op:
 * with the object's new version (0 when the op deleted the object), or
 * rejected with the verdict every participant reached — `STATE_CONFLICT`
 * (an `ifVersion` that no longer matches: a concurrent write won),
 * `STATE_PATH`, `STATE_TOO_LARGE`, `FORBIDDEN`, `INVALID_FRAME` — or the
 * gateway's refusal (`RATE_LIMITED` is retried by the publish path).
 *
 * @example
 *   const cart = session.state("cart");
 *   cart.subscribe(({ value }) => render(value));
 *   await cart.insert("items", { sku: "A-1", qty: 1 });
 *   await cart.increment(["items", 0, "qty"], 1, { ifVersion: cart.version });
 */
export interface StateHandle<T extends JsonValue = JsonValue> {
  readonly name: string;
  /** The current value (frozen: write through the methods below), or undefined while the object does not exist. */
  get(): T | undefined;
  /** The object's version: the seq of the last op applied to it; 0 while it does not exist. */
  readonly version: number;
  /** Who made the last applied change, or undefined while the object does not exist. */
  readonly updatedBy: { kind: string; id: string } | undefined;
  /** Calls `listener` on every applied change of this object. Returns an unsubscribe function. */
  subscribe(listener: (change: StateChange) => void): () => void;
  /** Sets the value at `path` (`[]`: the whole object), creating missing parent objects. */
  set(path: StatePath, value: JsonValue, opts?: StateWriteOptions): Promise<number>;
  /** JSON Merge Patch (RFC 7386) of `value` into the object (or the value at `opts.path`); null members delete keys. */
  merge(value: { [key: string]: JsonValue }, opts?: StateWriteOptions & { path?: StatePath }): Promise<number>;
  /** Deletes the key or list element at `path`; no path (or `[]`) deletes the object. A missing one is no error. */
  delete(path?: StatePath, opts?: StateWriteOptions): Promise<number>;
  /** Adds `by` (default 1) to the number at `path` (missing: 0). Concurrent increments all count. */
  increment(path: StatePath, by?: number, opts?: StateWriteOptions): Promise<number>;
  /** Inserts `value` into the list at `path` before `index` (default / past the end: appends). */
  insert(path: StatePath, value: JsonValue, index?: number, opts?: StateWriteOptions): Promise<number>;
  /** Removes the element at `index` of the list at `path` (out of range: no change). */
  remove(path: StatePath, index: number, opts?: StateWriteOptions): Promise<number>;
}

/** What a state handle needs from its session handle. */
export interface StateHost {
  readonly session: string;
  readonly view: StateView;
  /** Who this client is (from `welcome`), for the local pre-check of who may write what. */
  participant(): { kind: string; id: string };
  publish(event: ClientEvent): Promise<PublishResult>;
}

/** Throws `INVALID_FRAME` unless `name` is a valid object name. */
export function checkObjectName(name: unknown, session: string): asserts name is string {
  if (!isObjectName(name)) {
    throw new ThreadlineError(ErrorCode.INVALID_FRAME, "state object names match [A-Za-z0-9_-]{1,64}", { session });
  }
}

/** A session's state handles: one per object name, for the session handle's life. */
export class StateHandles {
  private readonly handles = new Map<string, StateHandle>();

  constructor(private readonly host: StateHost) {}

  /** The handle of object `name`; throws `INVALID_FRAME` for a malformed name. */
  get<T extends JsonValue = JsonValue>(name: string): StateHandle<T> {
    checkObjectName(name, this.host.session);
    let handle = this.handles.get(name);
    if (!handle) {
      handle = new StateHandleImpl(name, this.host);
      this.handles.set(name, handle);
    }
    return handle as StateHandle<T>;
  }
}

export class StateHandleImpl<T extends JsonValue = JsonValue> implements StateHandle<T> {
  constructor(
    readonly name: string,
    private readonly host: StateHost,
  ) {}

  get(): T | undefined {
    return this.host.view.object(this.name)?.value as T | undefined;
  }

  get version(): number {
    return this.host.view.object(this.name)?.version ?? 0;
  }

  get updatedBy(): { kind: string; id: string } | undefined {
    const by = this.host.view.object(this.name)?.updatedBy;
    return by && { kind: by.kind, id: by.id };
  }

  subscribe(listener: (change: StateChange) => void): () => void {
    return this.host.view.onChange((change) => {
      if (change.object === this.name) listener(change);
    });
  }

  set(path: StatePath, value: JsonValue, opts: StateWriteOptions = {}): Promise<number> {
    return this.write({ op: "set", path: toPath(path), value }, opts);
  }

  merge(value: { [key: string]: JsonValue }, opts: StateWriteOptions & { path?: StatePath } = {}): Promise<number> {
    return this.write({ op: "merge", path: toPath(opts.path ?? []), value }, opts);
  }

  delete(path: StatePath = [], opts: StateWriteOptions = {}): Promise<number> {
    return this.write({ op: "delete", path: toPath(path) }, opts);
  }

  increment(path: StatePath, by?: number, opts: StateWriteOptions = {}): Promise<number> {
    return this.write({ op: "increment", path: toPath(path), ...(by === undefined ? {} : { by }) }, opts);
  }

  insert(path: StatePath, value: JsonValue, index?: number, opts: StateWriteOptions = {}): Promise<number> {
    return this.write({ op: "insert", path: toPath(path), value, ...(index === undefined ? {} : { index }) }, opts);
  }

  remove(path: StatePath, index: number, opts: StateWriteOptions = {}): Promise<number> {
    return this.write({ op: "remove", path: toPath(path), index }, opts);
  }

  private async write(fields: DistributiveOmit<StateOp, "object" | "ifVersion">, opts: StateWriteOptions) {
    const { session, view } = this.host;
    const op = {
      object: this.name,
      ...fields,
      ...(opts.ifVersion === undefined ? {} : { ifVersion: opts.ifVersion }),
    } as StateOp;
    checkStateOp(op, session);
    // Refuse what the fold would certainly reject, storing nothing; a racing write can still win (the fold judges).
    const verdict = previewStateOp(view.state, op, this.host.participant());
    if (verdict !== "applied") throw stateRejectionError(verdict as StateRejection, this.name, session);
    // The id is fixed here so the fold can recognise the op, whichever arrives first: its event or `published`.
    const id = newId();
    return view.track(id, this.name, this.host.publish({ id, type: STATE_EVENT_TYPE, data: op }));
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function toPath(path: StatePath): PathSegment[] {
  return typeof path === "string" ? [path] : [...path];
}
