import type { KV } from "@nats-io/kv";
import { listKeys, readEntry, validJson } from "./kv-json.ts";
import { natsError } from "./nats-errors.ts";
import { checkTriggerKey } from "./notification-claims.ts";
import { deadLetterKey } from "./notify-keys.ts";

/** A delivery given up after its last try (`dead.<claim key>` in the notify bucket). */
export interface DeadLetter<P = unknown> {
  /** What was to be delivered (the notification payload). */
  payload: P;
  /** Where it was to go (the webhook URL). */
  url: string;
  /** Tries made. */
  attempts: number;
  /** The last HTTP status, when there was an answer. */
  lastStatus?: number;
  /** The last failure, in words (≤ 512 characters). */
  lastError?: string;
  /** When it was given up, ms since the epoch. */
  at: number;
}

const MAX_ERROR_LENGTH = 512;

export function deadLetterProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "not an object";
  const v = value as Partial<DeadLetter>;
  if (typeof v.url !== "string" || !Number.isInteger(v.attempts) || !Number.isFinite(v.at)) return "bad fields";
  if (v.lastStatus !== undefined && !Number.isInteger(v.lastStatus)) return "bad lastStatus";
  if (v.lastError !== undefined && typeof v.lastError !== "string") return "bad lastError";
  return undefined;
}

/**
 * Dead letters of the notifier in the notify bucket: one record per claim
 * that ran out of tries, next to the claim (completed `dead`). They expire
 * with the bucket's TTL (24 h by default): an operator who wants them longer
 * copies them out (`list()`), e.g. into a ticket or a re-drive job.
 *
 * @example
 *   await deadLetters.record(claimKey, { payload, url, attempts: 8, lastStatus: 503, at: Date.now() });
 */
export class DeadLetters<P = unknown> {
  constructor(private readonly kv: KV) {}

  /** Writes (or overwrites) the dead letter of `claimKey`. */
  async record(claimKey: string, letter: DeadLetter<P>): Promise<void> {
    checkTriggerKey(claimKey);
    const value: DeadLetter<P> = {
      ...letter,
      ...(letter.lastError === undefined ? {} : { lastError: letter.lastError.slice(0, MAX_ERROR_LENGTH) }),
    };
    try {
      await this.kv.put(deadLetterKey(claimKey), JSON.stringify(value));
    } catch (error) {
      throw natsError(`writing dead letter ${claimKey}`, error);
    }
  }

  async get(claimKey: string): Promise<DeadLetter<P> | undefined> {
    checkTriggerKey(claimKey);
    const entry = await readEntry(this.kv, deadLetterKey(claimKey), "dead letter");
    return entry ? validJson<DeadLetter<P>>(entry, deadLetterProblem) : undefined;
  }

  /** The claim keys that have a dead letter. */
  async list(): Promise<string[]> {
    return (await listKeys(this.kv, "dead.>", "dead letter")).map((key) => key.slice("dead.".length));
  }
}
