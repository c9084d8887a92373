import {
  decodeMsgpack,
  type Encoding,
  encodeJson,
  encodeMsgpack,
  isEventId,
  isEventType,
  Lane,
  type Participant,
  pinnedFrom,
  type SessionEvent,
  STATE_EVENT_TYPE,
} from "@threadline/protocol";

/**
 * One stored event as the gateway delivers it. The `event` frame is encoded
 * at most once per encoding and the same bytes go to every socket; the
 * msgpack frame embeds the stored payload bytes as they are, without a
 * re-encode.
 */
export class FeedRecord {
  private jsonFrame: string | undefined;
  private msgpackFrame: Uint8Array | undefined;
  /** Where the embedded event starts in `msgpackFrame` (it runs to the end). */
  private eventOffset = 0;

  constructor(
    readonly session: string,
    readonly seq: number,
    readonly subject: string,
    readonly event: SessionEvent,
    private raw: Uint8Array | undefined,
    /**
     * The `from` the stored envelope claimed when it differed from the author
     * its subject pins; `event.from` is then the subject's author (PROTOCOL.md §4).
     */
    readonly forgedFrom?: Participant,
  ) {}

  /** Approximate retained bytes, for the feed ring's byte bound. */
  get size(): number {
    return (this.msgpackFrame?.byteLength ?? this.raw?.byteLength ?? 256) + (this.jsonFrame?.length ?? 0) + 96;
  }

  /**
   * The event as msgpack: the stored payload as it is (a view into the cached
   * `event` frame once that was built), re-encoded only for a pinned author.
   * What an `events` frame embeds (events-frame.ts).
   */
  eventBytes(): Uint8Array {
    if (this.raw !== undefined) return this.raw;
    if (this.msgpackFrame !== undefined) return this.msgpackFrame.subarray(this.eventOffset);
    this.raw = encodeMsgpack(this.event);
    return this.raw;
  }

  frame(encoding: Encoding): Uint8Array | string {
    if (encoding === "json") {
      this.jsonFrame ??= encodeJson({ op: "event", session: this.session, seq: this.seq, event: this.event });
      return this.jsonFrame;
    }
    if (this.msgpackFrame === undefined) {
      const raw = this.raw ?? encodeMsgpack(this.event);
      const head = encodeMsgpack(this.session);
      const seq = encodeMsgpack(this.seq);
      const out = concatBytes(PREFIX, head, SEQ_KEY, seq, EVENT_KEY, raw);
      this.eventOffset = out.byteLength - raw.byteLength;
      this.msgpackFrame = out;
      this.raw = undefined;
    }
    return this.msgpackFrame;
  }

  /**
   * Decodes a stored message. Returns undefined for payloads that are not a
   * valid envelope (a misbehaving publisher), and for subjects that name no
   * author: those are skipped and counted, never forwarded to clients.
   *
   * Every path that delivers to clients (live feed, history, compact
   * catch-up) decodes here, so this is where `from` is pinned to the author
   * the subject names (NATS permissions pin each identity to its own
   * subjects, deploy/nats): an envelope claiming someone else — an agent
   * writing `from: {kind: "operator"}` on its own lane — is delivered with the
   * subject's author instead, and `forgedFrom` keeps the claim for the log.
   */
  static decode(session: string, seq: number, subject: string, data: Uint8Array): FeedRecord | undefined {
    // Copied before decoding: callers hand out views into buffers that are larger (the NATS client's read
    // buffer, which the ring would pin) or reused (the recent-events cache's store), and msgpackr's decoded
    // binary fields are views into what it decodes — so the record owns the one copy both point into.
    const owned = data.slice();
    let event: unknown;
    try {
      event = decodeMsgpack(owned);
    } catch {
      return undefined;
    }
    if (!isEnvelope(event)) return undefined;
    // A `state` event is a state operation only on lane `st`, the lane every state reader folds (PROTOCOL.md
    // §19.2); one stored elsewhere is not delivered, so no client applies what the other readers skip.
    if (event.type === STATE_EVENT_TYPE && laneOfSubject(subject) !== Lane.ST) return undefined;
    const from = pinnedFrom(subject, event.from);
    if (from === undefined) return undefined;
    if (from !== event.from) {
      // Re-encoded on demand: the stored bytes carry the forged author.
      return new FeedRecord(session, seq, subject, { ...event, from }, undefined, event.from);
    }
    return new FeedRecord(session, seq, subject, event, owned);
  }
}

/** The bytes of `parts`, one after the other, in a new array. */
export const concatBytes = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
};
// A msgpack fixmap of 4 entries: op, session, seq, event.
const PREFIX = concatBytes(Uint8Array.of(0x84), encodeMsgpack("op"), encodeMsgpack("event"), encodeMsgpack("session"));
const SEQ_KEY = encodeMsgpack("seq");
const EVENT_KEY = encodeMsgpack("event");

function isEnvelope(value: unknown): value is SessionEvent {
  if (typeof value !== "object" || value === null) return false;
  const e = value as Record<string, unknown>;
  const from = e.from as Record<string, unknown> | undefined;
  return (
    isEventId(e.id) &&
    isEventType(e.type) &&
    typeof e.ts === "number" &&
    typeof from === "object" &&
    from !== null &&
    typeof from.kind === "string" &&
    typeof from.id === "string"
  );
}

/** The lane token of `<prefix>.<session>.<lane>.<kind>.<id>` (the third token). */
function laneOfSubject(subject: string): string {
  const tokens = subject.split(".", 3);
  return tokens[2] ?? "";
}
