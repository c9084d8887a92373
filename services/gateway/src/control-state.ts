import { JetStreamApiError } from "@nats-io/jetstream";
import type { KV, KvEntry } from "@nats-io/kv";
import {
  type ControlCallEntry,
  type ControlOwnerEntry,
  type ControlTurnEntry,
  controlCallEntryProblem,
  controlCallKey,
  controlOwnerEntryProblem,
  controlOwnerKey,
  controlTurnEntryProblem,
  controlTurnKey,
  ErrorCode,
  ThreadlineError,
} from "@threadline/protocol";

/** JetStream "wrong last sequence": a create or compare-and-set lost against another writer. */
const WRONG_LAST_SEQUENCE = 10071;

export interface Versioned<T> {
  value: T;
  revision: number;
}

/**
 * The gateway's typed access to the control bucket (`threadline-control`,
 * PROTOCOL.md §17). Reads validate the stored JSON (an entry that does not
 * parse or validate reads as missing); `create`/`cas` resolve to the new
 * revision, or `undefined` when another writer got there first. NATS
 * failures become `ThreadlineError(UNAVAILABLE)` (retryable).
 */
export class ControlState {
  constructor(private readonly kv: KV) {}

  getTurn(session: string, turn: string): Promise<Versioned<ControlTurnEntry> | undefined> {
    return this.get(controlTurnKey(session, turn), controlTurnEntryProblem, session);
  }

  createTurn(session: string, turn: string, value: ControlTurnEntry): Promise<number | undefined> {
    return this.write(controlTurnKey(session, turn), value, 0, session);
  }

  casTurn(session: string, turn: string, value: ControlTurnEntry, revision: number): Promise<number | undefined> {
    return this.write(controlTurnKey(session, turn), value, revision, session);
  }

  getCall(session: string, call: string): Promise<Versioned<ControlCallEntry> | undefined> {
    return this.get(controlCallKey(session, call), controlCallEntryProblem, session);
  }

  casCall(session: string, call: string, value: ControlCallEntry, revision: number): Promise<number | undefined> {
    return this.write(controlCallKey(session, call), value, revision, session);
  }

  getOwner(session: string): Promise<Versioned<ControlOwnerEntry> | undefined> {
    return this.get(controlOwnerKey(session), controlOwnerEntryProblem, session);
  }

  /** The revision of the owner key's current value; 0 when it has none (never written, or deleted). */
  async getOwnerRevision(session: string): Promise<number> {
    return (await this.read(controlOwnerKey(session), session))?.revision ?? 0;
  }

  /** Writes the owner entry if the key is still at `revision` (0 = absent). */
  casOwner(session: string, value: ControlOwnerEntry, revision: number): Promise<number | undefined> {
    return this.write(controlOwnerKey(session), value, revision, session);
  }

  private async get<T>(
    key: string,
    problem: (value: unknown) => string | undefined,
    session: string,
  ): Promise<Versioned<T> | undefined> {
    const entry = await this.read(key, session);
    if (!entry) return undefined;
    let value: unknown;
    try {
      value = entry.json<unknown>();
    } catch {
      return undefined;
    }
    return problem(value) === undefined ? { value: value as T, revision: entry.revision } : undefined;
  }

  /** The key's current value when it holds one (not absent, deleted or purged). */
  private async read(key: string, session: string): Promise<KvEntry | undefined> {
    let entry: KvEntry | null;
    try {
      entry = await this.kv.get(key);
    } catch (error) {
      throw unavailable(`reading control key ${key}`, session, error);
    }
    return entry && entry.operation === "PUT" && entry.length > 0 ? entry : undefined;
  }

  /** revision 0: create (the key must be absent or deleted); otherwise compare-and-set. */
  private async write(key: string, value: unknown, revision: number, session: string): Promise<number | undefined> {
    try {
      const data = JSON.stringify(value);
      return revision === 0 ? await this.kv.create(key, data) : await this.kv.update(key, data, revision);
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === WRONG_LAST_SEQUENCE) return undefined;
      throw unavailable(`writing control key ${key}`, session, error);
    }
  }
}

function unavailable(what: string, session: string, cause: unknown): ThreadlineError {
  return new ThreadlineError(ErrorCode.UNAVAILABLE, `${what} failed; retry with the same event id`, {
    session,
    cause,
  });
}
