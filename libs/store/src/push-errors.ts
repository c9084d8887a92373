/**
 * Input the offline-delivery storage refuses (push subscriptions, notification
 * preferences, claim keys). Nothing is written when one is thrown. The
 * gateway maps them to its wire errors; NATS failures of the same calls are
 * `ThreadlineError`s (`UNAVAILABLE` retryable, `CLOSED`) as everywhere in
 * this package.
 */
export const PushStoreErrorCode = {
  /** The user id is not a participant id (`[A-Za-z0-9_-]{1,128}`). */
  INVALID_USER: "INVALID_USER",
  /** The push subscription does not validate: endpoint URL or scheme, key sizes, metadata. */
  INVALID_SUBSCRIPTION: "INVALID_SUBSCRIPTION",
  /** The notification preferences do not validate (types, unknown event types, too many muted sessions). */
  INVALID_PREFERENCES: "INVALID_PREFERENCES",
  /** A trigger key of the claim ledger is not a KV key (`[A-Za-z0-9_=/-]` tokens joined by `.`, ≤ 256). */
  INVALID_TRIGGER_KEY: "INVALID_TRIGGER_KEY",
} as const;
export type PushStoreErrorCode = (typeof PushStoreErrorCode)[keyof typeof PushStoreErrorCode];

export class PushStoreError extends Error {
  override readonly name = "PushStoreError";
  constructor(
    readonly code: PushStoreErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
