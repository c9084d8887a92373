import { type Encoding, encodeMsgpack, MAX_EVENTS_FRAME_BYTES, MAX_EVENTS_PER_FRAME } from "@threadline/protocol";
import { concatBytes, type FeedRecord } from "./feed-record.ts";

/** One frame built from `records[start, start + count)`. */
export interface BuiltEventsFrame {
  data: Uint8Array | string;
  count: number;
}

/**
 * Builds the next frame of a catch-up from `records[start…]`: an `events`
 * frame (PROTOCOL.md §7.3) holding as many consecutive records as fit in
 * `MAX_EVENTS_PER_FRAME` and `MAX_EVENTS_FRAME_BYTES` (at least one: an event
 * is never split), or the record's shared `event` frame when only one fits.
 * `records` must be of one session, in strictly increasing seq order.
 *
 * In msgpack the frame embeds each stored payload as it is (like the `event`
 * frame), so a catch-up never re-encodes an event.
 */
export function buildEventsFrame(records: readonly FeedRecord[], start: number, encoding: Encoding): BuiltEventsFrame {
  const first = records[start];
  if (first === undefined) throw new RangeError(`no record at ${start}`);
  return encoding === "msgpack" ? msgpackFrame(records, start) : jsonFrame(records, start);
}

function msgpackFrame(records: readonly FeedRecord[], start: number): BuiltEventsFrame {
  const session = encodeMsgpack(records[start]!.session);
  // Header + two array headers (≤ 3 bytes each, arrays hold ≤ 1024 items); each seq ≤ 9 bytes.
  let bytes = PREFIX.byteLength + session.byteLength + SEQS_KEY.byteLength + EVENTS_KEY.byteLength + 6;
  const payloads: Uint8Array[] = [];
  let end = start;
  while (end < records.length && payloads.length < MAX_EVENTS_PER_FRAME) {
    const payload = records[end]!.eventBytes();
    if (payloads.length > 0 && bytes + payload.byteLength + 9 > MAX_EVENTS_FRAME_BYTES) break;
    bytes += payload.byteLength + 9;
    payloads.push(payload);
    end++;
  }
  if (payloads.length === 1) return { data: records[start]!.frame("msgpack"), count: 1 };
  const seqs = encodeMsgpack(records.slice(start, end).map((r) => r.seq));
  const eventsHeader = arrayHeader(payloads.length);
  const data = concatBytes(PREFIX, session, SEQS_KEY, seqs, EVENTS_KEY, eventsHeader, ...payloads);
  return { data, count: payloads.length };
}

function jsonFrame(records: readonly FeedRecord[], start: number): BuiltEventsFrame {
  const session = records[start]!.session;
  let bytes = 48 + Buffer.byteLength(session);
  const events: string[] = [];
  let end = start;
  while (end < records.length && events.length < MAX_EVENTS_PER_FRAME) {
    const record = records[end]!;
    const event = JSON.stringify(record.event);
    // The seq (≤ 16 digits) and two commas.
    const size = Buffer.byteLength(event) + 18;
    if (events.length > 0 && bytes + size > MAX_EVENTS_FRAME_BYTES) break;
    bytes += size;
    events.push(event);
    end++;
  }
  if (events.length === 1) return { data: records[start]!.frame("json"), count: 1 };
  const seqs = records.slice(start, end).map((r) => r.seq);
  const data = `{"op":"events","session":${JSON.stringify(session)},"seqs":[${seqs.join(",")}],"events":[${events.join(",")}]}`;
  return { data, count: events.length };
}

/** A msgpack array header for `n` items (fixarray or array 16; n ≤ MAX_EVENTS_PER_FRAME). */
function arrayHeader(n: number): Uint8Array {
  return n < 16 ? Uint8Array.of(0x90 | n) : Uint8Array.of(0xdc, n >> 8, n & 0xff);
}

// A msgpack fixmap of 4 entries: op, session, seqs, events (in that order, PROTOCOL.md §7.3).
const PREFIX = concatBytes(Uint8Array.of(0x84), encodeMsgpack("op"), encodeMsgpack("events"), encodeMsgpack("session"));
const SEQS_KEY = encodeMsgpack("seqs");
const EVENTS_KEY = encodeMsgpack("events");
