import { DurableStreamError } from "./errors.ts";

/**
 * JSON mode (PROTOCOL.md §21.4): a POST body is one JSON value or an array
 * whose elements are the messages (one level flattened); `[]` is refused for
 * POST and creates an empty stream for PUT. A read returns the messages of the
 * range as one JSON array.
 */
export function jsonMessages(body: Uint8Array, forCreate: boolean): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw new DurableStreamError("BAD_REQUEST", "the body is not valid JSON");
  }
  if (!Array.isArray(value)) return [value];
  if (value.length === 0 && !forCreate)
    throw new DurableStreamError("BAD_REQUEST", "an empty JSON array appends nothing");
  return value;
}

/** Serializes messages as the JSON array a read returns (`[]` for none). */
export function jsonArray(messages: readonly unknown[]): string {
  return `[${messages.map((m) => JSON.stringify(m)).join(",")}]`;
}
