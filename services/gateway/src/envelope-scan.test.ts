import { decodeMsgpack, encodeMsgpack, isEventId, isEventType } from "@threadline/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { scanEnvelope } from "./envelope-scan.ts";

const from = { kind: "agent", id: "a1" };
const envelope = {
  id: "e1",
  type: "message.append",
  from,
  ts: 1700000000000,
  ref: "m1",
  data: { part: 0, delta: "hi" },
};

/** What FeedRecord.decode's full path concludes about a payload: its type and from, or undefined. */
function fullDecode(bytes: Uint8Array): { type: string; from: { kind: string; id: string } } | undefined {
  let e: Record<string, unknown>;
  try {
    e = decodeMsgpack(bytes) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof e !== "object" || e === null) return undefined;
  const f = e.from as Record<string, unknown> | undefined;
  if (!isEventId(e.id) || !isEventType(e.type) || typeof e.ts !== "number") return undefined;
  if (typeof f !== "object" || f === null || typeof f.kind !== "string" || typeof f.id !== "string") return undefined;
  return { type: e.type, from: { kind: f.kind, id: f.id } };
}

describe("scanEnvelope", () => {
  it("reads type and from of a valid envelope", () => {
    expect(scanEnvelope(encodeMsgpack(envelope))).toEqual({ type: "message.append", from });
    expect(scanEnvelope(encodeMsgpack({ ...envelope, from: { ...from, device: "d" }, ts: 1.5 }))).toEqual({
      type: "message.append",
      from,
    });
  });

  it.each([
    ["a missing ts", { ...envelope, ts: undefined }],
    ["a string ts", { ...envelope, ts: "now" }],
    ["a bad id", { ...envelope, id: "has space" }],
    ["a bad type", { ...envelope, type: "Bad!" }],
    ["from without id", { ...envelope, from: { kind: "agent" } }],
    ["a non-ASCII from id", { ...envelope, from: { kind: "agent", id: "été" } }],
    ["an array", [envelope]],
  ])("gives up on %s", (_, value) => {
    expect(scanEnvelope(encodeMsgpack(value))).toBeUndefined();
  });

  it.each([
    ["trailing bytes", Uint8Array.of(...encodeMsgpack(envelope), 0x01)],
    ["a truncated payload", encodeMsgpack(envelope).subarray(0, 20)],
    ["an extension in data (a timestamp)", withData(Uint8Array.of(0xd6, 0xff, 0, 0, 0, 1))],
    ["the never-used byte", withData(Uint8Array.of(0xc1))],
    ["an array map key in data", withData(Uint8Array.of(0x81, 0x91, 0x01, 0x02))],
    ["a bin map key in data", withData(Uint8Array.of(0x81, 0xc4, 0x01, 0x41, 0x02))],
    ["an array claiming more items than bytes", withData(Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff))],
  ])("gives up on %s", (_, bytes) => {
    expect(scanEnvelope(bytes)).toBeUndefined();
  });

  it("property: whatever it accepts, the full decoder accepts with the same type and from", () => {
    const value = fc.letrec((tie) => ({
      any: fc.oneof(
        { depthSize: "small" },
        fc.constant(null),
        fc.boolean(),
        fc.integer(),
        fc.double(),
        fc.maxSafeInteger(),
        fc.string(),
        fc.uint8Array({ maxLength: 8 }),
        fc.array(tie("any"), { maxLength: 4 }),
        fc.dictionary(fc.string({ maxLength: 6 }), tie("any"), { maxKeys: 4 }),
      ),
    })).any;
    const envelopes = fc.record(
      {
        id: fc.oneof(fc.constant("e1"), fc.string({ maxLength: 4 })),
        type: fc.oneof(fc.constant("note"), fc.string({ maxLength: 4 })),
        ts: fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 2 })),
        from: fc.oneof(fc.record({ kind: fc.string({ maxLength: 4 }), id: fc.string({ maxLength: 4 }) }), value),
        data: value,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(envelopes, fc.nat(), fc.nat(255), (e, at, byte) => {
        const bytes = encodeMsgpack(e);
        // Also one corrupted byte, anywhere: the scan must never vouch for what the decoder refuses.
        const corrupted = Uint8Array.from(bytes);
        corrupted[at % corrupted.length] = byte;
        for (const b of [bytes, corrupted]) {
          const head = scanEnvelope(b);
          if (head !== undefined) expect(fullDecode(b)).toEqual(head);
        }
        if (fullDecode(bytes) !== undefined && /^[\x20-\x7e]*$/.test(JSON.stringify(e.from))) {
          expect(scanEnvelope(bytes)).toEqual(fullDecode(bytes));
        }
      }),
      { numRuns: 3000 },
    );
  });
});

/** A valid envelope whose `data` value is `raw` msgpack bytes. */
function withData(raw: Uint8Array): Uint8Array {
  const head = encodeMsgpack({ id: "e1", type: "note", from, ts: 1 });
  // Bump the fixmap count by one and append key "data" and the raw value.
  const out = Uint8Array.from([head[0]! + 1, ...head.subarray(1), ...encodeMsgpack("data"), ...raw]);
  return out;
}
