/**
 * Identifier grammar. Session ids, participant ids and device ids become NATS
 * subject tokens and KV key tokens, so they are restricted to characters that
 * are safe in both: ASCII letters, digits, `_` and `-`.
 */
import { ErrorCode, ThreadlineError } from "./errors.ts";

const TOKEN = /^[A-Za-z0-9_-]+$/;

export const MAX_SESSION_ID_LENGTH = 128;
export const MAX_PARTICIPANT_ID_LENGTH = 128;
export const MAX_DEVICE_ID_LENGTH = 64;
export const MAX_EVENT_ID_LENGTH = 64;
export const MAX_EVENT_TYPE_LENGTH = 64;

export function isSessionId(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_SESSION_ID_LENGTH && TOKEN.test(value);
}

/**
 * Throws `INVALID_SESSION` unless `value` is a session id: what every SDK
 * does with a malformed id before anything is sent (PROTOCOL.md §11).
 */
export function checkSessionId(value: unknown): asserts value is string {
  if (!isSessionId(value)) {
    throw new ThreadlineError(
      ErrorCode.INVALID_SESSION,
      `invalid session id ${JSON.stringify(value)}: must match [A-Za-z0-9_-]{1,${MAX_SESSION_ID_LENGTH}}`,
    );
  }
}

export function isParticipantId(value: unknown): value is string {
  return (
    typeof value === "string" && value.length > 0 && value.length <= MAX_PARTICIPANT_ID_LENGTH && TOKEN.test(value)
  );
}

export function isDeviceId(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_DEVICE_ID_LENGTH && TOKEN.test(value);
}

/** Event ids (stored under `Nats-Msg-Id` `<session>/<id>`, see dedupe.ts); any printable ASCII without spaces, 1–64 chars. */
export function isEventId(value: unknown): value is string {
  return (
    typeof value === "string" && value.length > 0 && value.length <= MAX_EVENT_ID_LENGTH && /^[\x21-\x7e]+$/.test(value)
  );
}

/** Event types: lowercase dotted words, e.g. `input`, `message.append`, `presence.join`. */
export function isEventType(value: unknown): value is string {
  return (
    typeof value === "string" &&
    value.length <= MAX_EVENT_TYPE_LENGTH &&
    /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/.test(value)
  );
}

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";
/** Base36 digit of each random byte (`byte % 36`, as before the pool), looked up instead of computed per id. */
const DIGIT = Array.from({ length: 256 }, (_, b) => ALPHABET[b % 36] as string);
const RANDOM_BYTES_PER_ID = 16;
/**
 * Random bytes fetched 256 ids at a time: one `getRandomValues` call per 4 KB
 * instead of one per id (the call dominated `newId` in the agent's profile).
 * Every byte is used once; the pool is refilled when it runs out.
 */
const pool = new Uint8Array(256 * RANDOM_BYTES_PER_ID);
let poolOffset = pool.length;

/**
 * A new random, time-prefixed id (base36 ms timestamp + 16 random base36
 * chars). Uses Web Crypto, so it works in browsers and Node ≥ 20.
 */
export function newId(): string {
  if (poolOffset + RANDOM_BYTES_PER_ID > pool.length) {
    globalThis.crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  let rand = "";
  const end = poolOffset + RANDOM_BYTES_PER_ID;
  for (let i = poolOffset; i < end; i++) rand += DIGIT[pool[i] as number];
  poolOffset = end;
  return `${Date.now().toString(36)}${rand}`;
}
