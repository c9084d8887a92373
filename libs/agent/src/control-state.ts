import type { KV } from "@nats-io/kv";
import {
  type ControlCallEntry,
  type ControlOwnerEntry,
  type ControlTurnEntry,
  controlCallKey,
  controlOwnerKey,
  controlTurnKey,
  type TurnEndData,
} from "@threadline/protocol";
import { jsApiErrorCode, natsError } from "./errors.ts";

/** JetStream "wrong last sequence": a create/CAS lost against another writer. */
const WRONG_LAST_SEQUENCE = 10071;

/** A turn entry of the control bucket as the SDK keeps it (`worker` extra fields included). */
export interface TurnRecord extends ControlTurnEntry {
  /** Takeovers so far (0 for the first worker). SDK field, ignored by the gateway. */
  attempt?: number;
  /**
   * Final entries: the id of the turn's `turn.end` (a turn cancelled while `pending`: the one the worker that
   * picked its input up publishes), kept so that a redelivery re-publishes the same event, which the stream
   * stores once. SDK field.
   */
  endEvent?: string;
  /**
   * Final entries: the `turn.end` data stored with id `endEvent`, written with the final status before the
   * event is published, so a worker that finds the entry final and the event missing (its writer died in
   * between) stores the same event. SDK field.
   */
  end?: TurnEndData;
  /** The worker that ended the turn because its own worker was gone (the orphan sweep). SDK field. */
  closedBy?: string;
  /** `"operator"`: an entry pool did not run this input because an operator owned the session. SDK field. */
  skipped?: "operator";
}

export interface Versioned<T> {
  value: T;
  revision: number;
}

/**
 * Typed access to the control KV bucket (`threadline-control`, PROTOCOL.md
 * §17): one key per fact, every write a create or a compare-and-set on the
 * revision read before, so several workers and gateways agree on who runs a
 * turn and which answer to a call counts. `create`/`cas` resolve to the new
 * revision, or `undefined` when another writer got there first (the caller
 * re-reads); other failures throw a typed `ThreadlineError`.
 */
export class ControlState {
  constructor(readonly kv: KV) {}

  getTurn(session: string, turn: string): Promise<Versioned<TurnRecord> | undefined> {
    return this.get(controlTurnKey(session, turn));
  }

  createTurn(session: string, turn: string, value: TurnRecord): Promise<number | undefined> {
    return this.create(controlTurnKey(session, turn), value);
  }

  casTurn(session: string, turn: string, value: TurnRecord, revision: number): Promise<number | undefined> {
    return this.cas(controlTurnKey(session, turn), value, revision);
  }

  getCall(session: string, call: string): Promise<Versioned<ControlCallEntry> | undefined> {
    return this.get(controlCallKey(session, call));
  }

  createCall(session: string, call: string, value: ControlCallEntry): Promise<number | undefined> {
    return this.create(controlCallKey(session, call), value);
  }

  casCall(session: string, call: string, value: ControlCallEntry, revision: number): Promise<number | undefined> {
    return this.cas(controlCallKey(session, call), value, revision);
  }

  /** The session's owner entry; undefined when agents own it (no key, or `owner: null`). */
  async operatorOwner(session: string): Promise<ControlOwnerEntry["owner"] | undefined> {
    const entry = await this.get<ControlOwnerEntry>(controlOwnerKey(session));
    return entry?.value.owner ?? undefined;
  }

  private async get<T>(key: string): Promise<Versioned<T> | undefined> {
    try {
      const entry = await this.kv.get(key);
      if (entry?.operation !== "PUT" || entry.length === 0) return undefined;
      return { value: entry.json<T>(), revision: entry.revision };
    } catch (error) {
      throw natsError(`reading control key ${key}`, error);
    }
  }

  private async create(key: string, value: unknown): Promise<number | undefined> {
    try {
      return await this.kv.create(key, JSON.stringify(value));
    } catch (error) {
      if (jsApiErrorCode(error) === WRONG_LAST_SEQUENCE) return undefined;
      throw natsError(`creating control key ${key}`, error);
    }
  }

  private async cas(key: string, value: unknown, revision: number): Promise<number | undefined> {
    try {
      return await this.kv.update(key, JSON.stringify(value), revision);
    } catch (error) {
      if (jsApiErrorCode(error) === WRONG_LAST_SEQUENCE) return undefined;
      throw natsError(`updating control key ${key}`, error);
    }
  }
}
