import { describe, expect, test } from "vitest";
import { applyEvent, isExpired, sameConfig } from "./data-streams.ts";
import type { StreamRecord } from "./stream-records.ts";

const by = { kind: "user" as const, id: "u" };
const record: StreamRecord = {
  v: 1,
  incarnation: "i",
  contentType: "text/plain",
  createdAt: 0,
  createdAfter: 10,
  accessedAt: 1_000,
  tailSeq: 10,
  subjectSeq: 10,
  closed: false,
  producers: {},
  refs: 0,
  softDeleted: false,
};

describe("isExpired", () => {
  test.each([
    ["no TTL or expiry", {}, 1e12, false],
    ["TTL: a sliding window from the last access", { ttlSeconds: 2 }, 2_999, false],
    ["TTL passed", { ttlSeconds: 2 }, 3_000, true],
    ["Expires-At ahead", { expiresAt: "1970-01-01T00:00:05Z" }, 4_999, false],
    ["Expires-At passed", { expiresAt: "1970-01-01T00:00:05Z" }, 5_000, true],
    ["an unreadable Expires-At fails closed", { expiresAt: "garbage" }, 0, true],
  ])("%s", (_name, extra, now, expired) => {
    expect(isExpired({ ...record, ...extra }, now)).toBe(expired);
  });
});

describe("applyEvent", () => {
  test("an append moves the tail and the subject seq, and records the producer and Stream-Seq", () => {
    const next = applyEvent(
      record,
      {
        seq: 15,
        type: "stream.append",
        body: { bytes: new Uint8Array(1), by, producer: { id: "p", epoch: 1, seq: 0 }, streamSeq: "a" },
      },
      2_000,
    );
    expect(next).toMatchObject({ tailSeq: 15, subjectSeq: 15, lastStreamSeq: "a", accessedAt: 2_000, closed: false });
    expect(next.producers.p).toEqual({ epoch: 1, lastSeq: 0, updatedAt: 2_000 });
  });

  test("a close marker closes without moving the tail; an append with close does both", () => {
    expect(applyEvent(record, { seq: 12, type: "stream.close", body: { by } }, 0)).toMatchObject({
      tailSeq: 10,
      subjectSeq: 12,
      closed: true,
    });
    const closedBy = applyEvent(
      record,
      { seq: 13, type: "stream.append", body: { json: [1], by, close: true, producer: { id: "p", epoch: 0, seq: 3 } } },
      0,
    );
    expect(closedBy).toMatchObject({ tailSeq: 13, closed: true, closedBy: { id: "p", epoch: 0, seq: 3 } });
  });
});

describe("sameConfig (idempotent PUT)", () => {
  const request = {
    contentType: "TEXT/plain; charset=utf-8",
    ttlSeconds: undefined,
    expiresAt: undefined,
    closed: false,
    fork: undefined,
  };
  test.each([
    ["same media type, other parameters", {}, true],
    ["another content type", { contentType: "application/json" }, false],
    ["another TTL", { ttlSeconds: 5 }, false],
    ["closed vs open", { closed: true }, false],
    ["a fork vs a plain stream", { fork: { source: "s", subOffset: 0 } }, false],
  ])("%s", (_name, change, same) => {
    expect(sameConfig(record, { ...request, ...change })).toBe(same);
  });
});
