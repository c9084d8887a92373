import type { KV } from "@nats-io/kv";
import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { readEntry, validJson, writeJson } from "./kv-json.ts";
import { PushStoreError, PushStoreErrorCode } from "./push-errors.ts";

/** Final outcomes of a trigger: delivered, given up without a dead letter (nothing to deliver to), dead-lettered. */
export type ClaimOutcome = "sent" | "failed" | "dead";
export type ClaimStatus = "claimed" | ClaimOutcome;

/** The value of a trigger key in the notify bucket (`threadline-notify`). */
export interface ClaimEntry {
  status: ClaimStatus;
  /** The notifier instance that holds (or held) the claim. */
  owner: string;
  /** `claimed`: when the lease started or was last renewed; otherwise when it completed. Ms, the writer's clock. */
  at: number;
  /** Claims so far: 1 for the first owner, +1 per takeover. */
  attempts: number;
  /** Completion: a short reason (≤ 512 characters), e.g. the last delivery error. */
  detail?: string;
}

/** A claim the caller holds: the argument of `renew` and `complete`. */
export interface ClaimTicket {
  triggerKey: string;
  owner: string;
  revision: number;
  attempts: number;
  /** True when an earlier owner's lease had expired (it may have delivered: channels dedupe by trigger key). */
  takeover: boolean;
}

export interface ClaimPolicy {
  /** A claim not renewed or completed within this long may be taken over. */
  leaseMs: number;
  /** Claims after which an abandoned trigger is marked `dead` instead of taken over again (a poison trigger). */
  maxAttempts: number;
}

export const DEFAULT_CLAIM_POLICY: Readonly<ClaimPolicy> = Object.freeze({ leaseMs: 30_000, maxAttempts: 5 });

export type ClaimDecision =
  | { action: "create" }
  | { action: "takeover"; attempts: number }
  | { action: "held"; owner: string; expiresAt: number }
  | { action: "exhausted"; attempts: number }
  | { action: "done"; status: ClaimOutcome };

const MAX_TRIGGER_KEY_LENGTH = 256;
const TRIGGER_KEY = /^[A-Za-z0-9_=/-]+(\.[A-Za-z0-9_=/-]+)*$/;
const MAX_DETAIL_LENGTH = 512;
const STATUSES: ReadonlySet<string> = new Set(["claimed", "sent", "failed", "dead"]);

/**
 * What a claimer does with a trigger key's current entry (pure):
 * - none → `create`;
 * - completed → `done` (never claimed again);
 * - claimed, lease running (`now < at + leaseMs`) → `held` by its owner;
 * - claimed, lease over, fewer than `maxAttempts` claims → `takeover`;
 * - claimed, lease over, `maxAttempts` claims → `exhausted` (mark it `dead`).
 */
export function claimDecision(entry: ClaimEntry | undefined, now: number, policy: ClaimPolicy): ClaimDecision {
  if (!entry) return { action: "create" };
  if (entry.status !== "claimed") return { action: "done", status: entry.status };
  const expiresAt = entry.at + policy.leaseMs;
  if (now < expiresAt) return { action: "held", owner: entry.owner, expiresAt };
  if (entry.attempts >= policy.maxAttempts) return { action: "exhausted", attempts: entry.attempts };
  return { action: "takeover", attempts: entry.attempts + 1 };
}

export function claimEntryProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "not an object";
  const v = value as Partial<ClaimEntry>;
  if (typeof v.status !== "string" || !STATUSES.has(v.status)) return "bad status";
  if (typeof v.owner !== "string" || v.owner.length === 0) return "bad owner";
  if (!Number.isFinite(v.at)) return "bad at";
  if (!Number.isInteger(v.attempts) || (v.attempts ?? 0) < 1) return "bad attempts";
  if (v.detail !== undefined && typeof v.detail !== "string") return "bad detail";
  return undefined;
}

/** Throws `INVALID_TRIGGER_KEY` unless `key` can be a KV key: `[A-Za-z0-9_=/-]` tokens joined by `.`, ≤ 256. */
export function checkTriggerKey(key: unknown): asserts key is string {
  if (typeof key !== "string" || key.length > MAX_TRIGGER_KEY_LENGTH || !TRIGGER_KEY.test(key)) {
    throw new PushStoreError(
      PushStoreErrorCode.INVALID_TRIGGER_KEY,
      `invalid trigger key ${JSON.stringify(key)}: [A-Za-z0-9_=/-] tokens joined by ".", at most ${MAX_TRIGGER_KEY_LENGTH}`,
    );
  }
}

export interface NotificationClaimsOptions extends Partial<ClaimPolicy> {
  /** Clock, ms since the epoch (tests). */
  now?: () => number;
}

/**
 * The exactly-once ledger of the notifier (`threadline-notify`, history 1,
 * keys expire with the bucket's TTL, 24 h by default): one key per trigger
 * (`<session>.<event id>` or the collapsed burst's key).
 *
 * Contract:
 * - `claim(key, owner)` resolves to a ticket for exactly one caller per key
 *   across processes (a KV create; "wrong last sequence" → another won) and
 *   to undefined for every other: held by a live owner, completed, or lost a
 *   race. A claim neither renewed nor completed within `leaseMs` (its owner
 *   died) is taken over with a compare-and-set, so a restart or a second
 *   replica never loses a trigger; after `maxAttempts` claims it is marked
 *   `dead` instead (a trigger that kills every notifier);
 * - `renew(ticket)` restarts the lease (deliveries with retries that take
 *   longer than the lease renew between tries); `complete(ticket, outcome)`
 *   records the outcome; both are compare-and-sets on the ticket's revision
 *   and resolve to undefined/false when the claim was taken over meanwhile;
 * - completed keys are never claimed again (until the TTL forgets them:
 *   the notifier must ignore triggers older than the TTL);
 * - the lease compares `at` (the writer's clock) with the reader's clock:
 *   keep replicas' clocks within a fraction of `leaseMs`;
 * - NATS failures throw `ThreadlineError` (`UNAVAILABLE` retryable, `CLOSED`).
 *
 * @example
 *   const ticket = await claims.claim(`${session}.${eventId}`, instanceId);
 *   if (ticket) await claims.complete(ticket, (await deliver()) ? "sent" : "dead");
 */
export class NotificationClaims {
  readonly policy: ClaimPolicy;
  private readonly now: () => number;

  constructor(
    private readonly kv: KV,
    options: NotificationClaimsOptions = {},
  ) {
    this.policy = {
      leaseMs: options.leaseMs ?? DEFAULT_CLAIM_POLICY.leaseMs,
      maxAttempts: options.maxAttempts ?? DEFAULT_CLAIM_POLICY.maxAttempts,
    };
    if (!Number.isInteger(this.policy.leaseMs) || this.policy.leaseMs < 1) throw new RangeError("leaseMs must be ≥ 1");
    if (!Number.isInteger(this.policy.maxAttempts) || this.policy.maxAttempts < 1) {
      throw new RangeError("maxAttempts must be ≥ 1");
    }
    this.now = options.now ?? Date.now;
  }

  async claim(triggerKey: string, owner: string): Promise<ClaimTicket | undefined> {
    checkTriggerKey(triggerKey);
    if (typeof owner !== "string" || owner.length === 0) throw new TypeError("owner must be a non-empty string");
    // One re-read per lost race is enough to see the winner; the bound only guards a key rewritten without end.
    for (let round = 0; round < 5; round++) {
      const current = await this.read(triggerKey);
      const now = this.now();
      const decision = claimDecision(current.entry, now, this.policy);
      if (decision.action === "held" || decision.action === "done") return undefined;
      if (decision.action === "exhausted") {
        const dead: ClaimEntry = {
          ...(current.entry as ClaimEntry),
          status: "dead",
          at: now,
          detail: `abandoned by ${decision.attempts} owners`,
        };
        if ((await writeJson(this.kv, triggerKey, dead, current.revision, "notify")) !== undefined) return undefined;
        continue;
      }
      const attempts = decision.action === "takeover" ? decision.attempts : 1;
      const entry: ClaimEntry = { status: "claimed", owner, at: now, attempts };
      // An entry that does not validate (a foreign writer) is replaced at its revision.
      const revision = await writeJson(this.kv, triggerKey, entry, current.revision, "notify");
      if (revision !== undefined) {
        return { triggerKey, owner, revision, attempts, takeover: decision.action === "takeover" };
      }
    }
    throw new ThreadlineError(ErrorCode.UNAVAILABLE, `notify key ${triggerKey} kept changing while it was claimed`);
  }

  /** Restarts the ticket's lease. Resolves to the renewed ticket, or undefined when the claim is no longer its. */
  async renew(ticket: ClaimTicket): Promise<ClaimTicket | undefined> {
    const entry: ClaimEntry = { status: "claimed", owner: ticket.owner, at: this.now(), attempts: ticket.attempts };
    const revision = await writeJson(this.kv, ticket.triggerKey, entry, ticket.revision, "notify");
    return revision === undefined ? undefined : { ...ticket, revision };
  }

  /** Records the outcome. False when the claim was taken over (or completed) since the ticket's revision. */
  async complete(ticket: ClaimTicket, outcome: ClaimOutcome, detail?: string): Promise<boolean> {
    const entry: ClaimEntry = {
      status: outcome,
      owner: ticket.owner,
      at: this.now(),
      attempts: ticket.attempts,
      ...(detail === undefined ? {} : { detail: detail.slice(0, MAX_DETAIL_LENGTH) }),
    };
    return (await writeJson(this.kv, ticket.triggerKey, entry, ticket.revision, "notify")) !== undefined;
  }

  /** The trigger's entry (undefined: never claimed, forgotten, or not valid). */
  async get(triggerKey: string): Promise<ClaimEntry | undefined> {
    checkTriggerKey(triggerKey);
    return (await this.read(triggerKey)).entry;
  }

  private async read(key: string): Promise<{ entry: ClaimEntry | undefined; revision: number }> {
    const raw = await readEntry(this.kv, key, "notify");
    if (!raw) return { entry: undefined, revision: 0 };
    return { entry: validJson<ClaimEntry>(raw, claimEntryProblem), revision: raw.revision };
  }
}
