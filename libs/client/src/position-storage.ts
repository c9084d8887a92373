import { isPosition, type Position, toPosition } from "@threadline/protocol";

/**
 * Where the client keeps the last applied position of each session, so a
 * later `attach()` without `from` resumes after it (PROTOCOL.md §14 step 2).
 * Store positions only together with the view they describe: an app that
 * rebuilds its view from nothing must attach with `from: "start"`.
 *
 * Contract: `get` returns what the last `set` stored (or undefined), `set`
 * overwrites, `delete` forgets. Methods may be sync or async; the client
 * tolerates a throwing or rejecting storage (it treats a failed `get` as "no
 * stored position" and ignores failed writes, keeping its in-memory position).
 */
export interface PositionStorage {
  get(session: string): Position | undefined | Promise<Position | undefined>;
  set(session: string, position: Position): void | Promise<void>;
  delete?(session: string): void | Promise<void>;
}

/**
 * Positions held in memory for the life of the storage object (the default:
 * one per client). Returns copies, so callers cannot mutate stored values.
 * @example createClient({ url, token, storage: memoryStorage() })
 */
export function memoryStorage(): PositionStorage {
  const positions = new Map<string, Position>();
  return {
    get: (session) => {
      const p = positions.get(session);
      return p && toPosition(p);
    },
    set: (session, position) => {
      positions.set(session, toPosition(position));
    },
    delete: (session) => {
      positions.delete(session);
    },
  };
}

/** The part of the Web Storage API (`localStorage`, `sessionStorage`) that `webStorage` uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Positions in a Web Storage area under `<prefix><session>` as JSON
 * `{"epoch","seq"}`. A value that is not a valid position (corrupted, or
 * written by something else) reads as undefined. Errors of the storage area
 * itself (quota, disabled storage) propagate to the caller.
 * @example createClient({ url, token, storage: webStorage(localStorage) })
 */
export function webStorage(storage: StorageLike, prefix = "threadline:"): PositionStorage {
  const key = (session: string) => `${prefix}${session}`;
  return {
    get: (session) => {
      const raw = storage.getItem(key(session));
      if (raw === null) return undefined;
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        return undefined;
      }
      return isPosition(value) ? toPosition(value) : undefined;
    },
    set: (session, position) => {
      storage.setItem(key(session), JSON.stringify(toPosition(position)));
    },
    delete: (session) => {
      storage.removeItem(key(session));
    },
  };
}

// ---- tolerant access used by the client (not exported from the package) ----

const ignore = () => {};

/** Reads a stored position; a throwing, rejecting or invalid storage reads as "none". */
export async function readPosition(storage: PositionStorage, session: string): Promise<Position | undefined> {
  try {
    const value: unknown = await storage.get(session);
    return isPosition(value) ? toPosition(value) : undefined;
  } catch {
    return undefined;
  }
}

/** Writes a position (a copy); failures are ignored, the in-memory position stays exact. */
export function writePosition(storage: PositionStorage, session: string, position: Position): Promise<void> {
  try {
    return Promise.resolve(storage.set(session, toPosition(position))).then(ignore, ignore);
  } catch {
    return Promise.resolve();
  }
}

/** Forgets a position; failures are ignored. */
export function forgetPosition(storage: PositionStorage, session: string): Promise<void> {
  try {
    return Promise.resolve(storage.delete?.(session)).then(ignore, ignore);
  } catch {
    return Promise.resolve();
  }
}
