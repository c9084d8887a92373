/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/#traceparent-header):
 * an event MAY carry the `traceparent` of the operation that produced it in
 * the envelope field `trace`, so a client can join the agent's trace
 * (PROTOCOL.md §4.2).
 *
 * Grammar: `<version>-<trace-id>-<parent-id>-<flags>`, lowercase hex;
 * version 2 chars (not `ff`), trace-id 32 chars (not all zeros), parent-id
 * 16 chars (not all zeros), flags 2 chars. Version `00` has exactly these
 * four fields (55 chars); a higher version MAY append `-<more>` fields, which
 * are kept as they are.
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** Longest `trace` value accepted (a version-00 traceparent is 55 chars; later versions may be longer). */
export const MAX_TRACEPARENT_LENGTH = 256;

/** Whether `value` is a valid W3C `traceparent` string (see the grammar above). */
export function isTraceparent(value: unknown): value is string {
  if (typeof value !== "string" || value.length > MAX_TRACEPARENT_LENGTH) return false;
  const match = TRACEPARENT.exec(value);
  if (!match) return false;
  const [, version, traceId, parentId, , rest] = match;
  if (version === "ff") return false;
  if (version === "00" && rest !== undefined) return false;
  if (/^0+$/.test(traceId as string) || /^0+$/.test(parentId as string)) return false;
  return rest === undefined || /^-[\x21-\x7e]*$/.test(rest);
}

/** The trace id (32 hex chars) of a valid traceparent, or undefined. */
export function traceIdOf(traceparent: unknown): string | undefined {
  return isTraceparent(traceparent) ? traceparent.slice(3, 35) : undefined;
}
