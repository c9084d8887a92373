/**
 * Durable Streams offsets for Threadline positions (PROTOCOL.md §21.2),
 * shared by the gateway (which issues and checks them) and the client SDK's
 * HTTP transport (which resumes a position over HTTP).
 *
 * An offset is `<E>_<S>`: `E` is the stream epoch (§3.1) as 16 decimal digits
 * (its 64-bit FNV value modulo 10^16) and `S` the position's seq, zero-padded
 * to 16 digits (seq < 2^53 < 10^16). Inside one stream instance every offset
 * shares `E`, so byte-wise comparison orders offsets like seqs; an offset of
 * another instance (the NATS stream was recreated) is recognised by its `E`
 * and answered 410 Gone, never read as if it were current.
 */
export const OFFSET_DIGITS = 16;
/** The offset before the first event of any instance ("the beginning", like `-1`). */
export const ZERO_OFFSET = `${"0".repeat(OFFSET_DIGITS)}_${"0".repeat(OFFSET_DIGITS)}`;
const OFFSET_PATTERN = /^(\d{16})_(\d{16})$/;
const MODULUS = 10n ** BigInt(OFFSET_DIGITS);

/** The offset part naming a stream epoch (the base-36 FNV-1a hash of §3.1). */
export function epochDigits(epoch: string): string {
  let value = 0n;
  for (const char of epoch.toLowerCase()) {
    const digit = Number.parseInt(char, 36);
    value = Number.isNaN(digit) ? value * 37n + BigInt(char.charCodeAt(0)) : value * 36n + BigInt(digit);
  }
  return (value % MODULUS).toString().padStart(OFFSET_DIGITS, "0");
}

/** The offset of position `{epoch, seq}`: "everything after seq". */
export function formatOffset(epoch: string, seq: number): string {
  return `${epochDigits(epoch)}_${String(seq).padStart(OFFSET_DIGITS, "0")}`;
}

export type ParsedOffset =
  /** `-1`, absent, or the zero offset: from the beginning. */
  | { kind: "start" }
  /** `now`: the current tail. */
  | { kind: "now" }
  /** A position of the current stream instance: after `seq`. */
  | { kind: "after"; seq: number }
  /** A well-formed offset of another stream instance (other epoch). */
  | { kind: "other-epoch" }
  /** Not an offset. */
  | { kind: "invalid" };

/**
 * Reads an `offset` query value (already URL-decoded) against the current
 * epoch. `undefined` (no parameter) is the beginning; the empty string is
 * invalid (the protocol refuses it).
 */
export function parseOffset(value: string | undefined, epoch: string): ParsedOffset {
  if (value === undefined || value === "-1" || value === ZERO_OFFSET) return { kind: "start" };
  if (value === "now") return { kind: "now" };
  const match = OFFSET_PATTERN.exec(value);
  if (!match) return { kind: "invalid" };
  if (match[1] !== epochDigits(epoch)) return { kind: "other-epoch" };
  const seq = Number(match[2]);
  return Number.isSafeInteger(seq) ? { kind: "after", seq } : { kind: "invalid" };
}

/**
 * The seq an offset the gateway issued (`Stream-Next-Offset`,
 * `streamNextOffset`) stands for, without knowing the epoch; undefined when
 * it is not `<16 digits>_<16 digits>`.
 * @example offsetSeq(formatOffset("0k2n3f8x1q9zz", 42)) // 42
 */
export function offsetSeq(offset: string): number | undefined {
  const match = OFFSET_PATTERN.exec(offset);
  if (!match) return undefined;
  const seq = Number(match[2]);
  return Number.isSafeInteger(seq) ? seq : undefined;
}
