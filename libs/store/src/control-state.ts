import type { KV, KvEntry, KvWatchEntry } from "@nats-io/kv";
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
  type TurnEndData,
} from "@threadline/protocol";
import { closedError, isClosedError, JsErrCode, jsApiErrorCode } from "./nats-errors.ts";

/** A value and the KV revision it was read at (the argument of the next compare-and-set). */
export interface Versioned<T> {
  value: T;
  revision: number;
}

/** A turn entry of the control bucket as the agent SDK keeps it (`ControlTurnEntry` plus worker fields). */
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

/**
 * Typed access to the control KV bucket (`threadline-control`, PROTOCOL.md
 * §17) for every writer — gateways and agent workers alike. One key per fact;
 * every write is a create or a compare-and-set on the revision read before,
 * so several workers and gateways agree on who runs a turn and which answer
 * to a call counts.
 *
 * Contract:
 * - reads validate the stored JSON: an entry that does not parse or validate
 *   reads as missing (a foreign writer cannot crash a reader);
 * - `create*`/`cas*` resolve to the new revision, or `undefined` when another
 *   writer got there first (JetStream "wrong last sequence"); the caller
 *   re-reads and decides again;
 * - a closed connection throws `ThreadlineError(CLOSED)`; every other failure
 *   throws `ThreadlineError(UNAVAILABLE)` (retryable; retry with the same
 *   event id).
 */
export class ControlState {
  constructor(private readonly kv: KV) {}

  getTurn(session: string, turn: string): Promise<Versioned<TurnRecord> | undefined> {
    return this.get(controlTurnKey(session, turn), controlTurnEntryProblem, session);
  }

  createTurn(session: string, turn: string, value: TurnRecord): Promise<number | undefined> {
    return this.write(controlTurnKey(session, turn), value, 0, session);
  }

  casTurn(session: string, turn: string, value: TurnRecord, revision: number): Promise<number | undefined> {
    return this.write(controlTurnKey(session, turn), value, revision, session);
  }

  /** One turn's entry: its current value, then every change, until `stop()`. */
  watchTurn(session: string, turn: string): Promise<ControlWatch> {
    return this.watch(controlTurnKey(session, turn), session);
  }

  /** Every session's turn entries (`*.turn.*`): current values first, then every change, until `stop()`. */
  watchTurns(): Promise<ControlWatch> {
    return this.watch("*.turn.*");
  }

  getCall(session: string, call: string): Promise<Versioned<ControlCallEntry> | undefined> {
    return this.get(controlCallKey(session, call), controlCallEntryProblem, session);
  }

  createCall(session: string, call: string, value: ControlCallEntry): Promise<number | undefined> {
    return this.write(controlCallKey(session, call), value, 0, session);
  }

  casCall(session: string, call: string, value: ControlCallEntry, revision: number): Promise<number | undefined> {
    return this.write(controlCallKey(session, call), value, revision, session);
  }

  getOwner(session: string): Promise<Versioned<ControlOwnerEntry> | undefined> {
    return this.get(controlOwnerKey(session), controlOwnerEntryProblem, session);
  }

  /** The operator who owns the session; undefined when agents own it (no key, or `owner: null`). */
  async operatorOwner(session: string): Promise<ControlOwnerEntry["owner"] | undefined> {
    return (await this.getOwner(session))?.value.owner ?? undefined;
  }

  /** The revision of the owner key's current value; 0 when it has none (never written, or deleted). */
  async getOwnerRevision(session: string): Promise<number> {
    return (await this.read(controlOwnerKey(session), session))?.revision ?? 0;
  }

  /** Writes the owner entry if the key is still at `revision` (0 = absent). */
  casOwner(session: string, value: ControlOwnerEntry, revision: number): Promise<number | undefined> {
    return this.write(controlOwnerKey(session), value, revision, session);
  }

  private async watch(key: string, session?: string): Promise<ControlWatch> {
    try {
      const watch = await this.kv.watch({ key });
      return { entries: watch, stop: () => watch.stop() };
    } catch (error) {
      throw unavailable(`watching control key ${key}`, session, error);
    }
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
      if (jsApiErrorCode(error) === JsErrCode.WRONG_LAST_SEQUENCE) return undefined;
      throw unavailable(`writing control key ${key}`, session, error);
    }
  }
}

/** A watch of one control key: its entries as the KV watcher yields them. */
export interface ControlWatch {
  entries: AsyncIterable<KvWatchEntry>;
  stop(): void;
}

function unavailable(what: string, session: string | undefined, cause: unknown): ThreadlineError {
  if (isClosedError(cause)) return closedError(what, session, cause);
  return new ThreadlineError(ErrorCode.UNAVAILABLE, `${what} failed; retry with the same event id`, {
    ...(session === undefined ? {} : { session }),
    cause,
  });
}
