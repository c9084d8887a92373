import type { NatsConnection } from "@nats-io/transport-node";
import type { PresenceEntry } from "@threadline/protocol";
import type { PresenceBucket } from "@threadline/store";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "./logger.ts";
import { createPresenceWriter, slotIndex } from "./presence-writer.ts";

/** Records the writes the writer issues (a pure unit test: the bucket's NATS side is tested in test/integration/presence-*). */
function fakeBucket() {
  const writes: { key: string; entry: PresenceEntry }[] = [];
  const bucket = {
    write: async (key: string, entry: PresenceEntry) => {
      writes.push({ key, entry });
    },
    settled: async () => {},
  } as unknown as PresenceBucket;
  return { bucket, writes };
}

const nc = { status: async function* () {} } as unknown as NatsConnection;
const socket = (i: number) => ({
  session: `s-${i % 50}`,
  kind: "user" as const,
  id: `u-${i}`,
  device: `d-${i}`,
  connection: `c${i}`,
});

describe("createPresenceWriter", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("re-writes every entry once per heartbeat interval, spread over the interval's slices", async () => {
    vi.useFakeTimers();
    const { bucket, writes } = fakeBucket();
    const writer = createPresenceWriter(bucket, nc, 800, createLogger("silent"));
    for (let i = 0; i < 400; i++) writer.enter(socket(i));
    expect(writer.size).toBe(400);
    expect(writes).toHaveLength(400); // the enter writes
    writes.length = 0;
    const perSlice: number[] = [];
    for (let slice = 0; slice < 8; slice++) {
      const before = writes.length;
      vi.advanceTimersByTime(100);
      perSlice.push(writes.length - before);
    }
    const keys = writes.map((w) => w.key);
    expect(new Set(keys).size).toBe(400);
    expect(keys).toHaveLength(400);
    // No slice carries much more than its share (400 / 8 = 50): the spike the slicing prevents.
    expect(Math.max(...perSlice)).toBeLessThanOrEqual(80);
    await writer.close();
  });

  it("ends an entry with its tombstone and heartbeats it no more", async () => {
    vi.useFakeTimers();
    const { bucket, writes } = fakeBucket();
    const writer = createPresenceWriter(bucket, nc, 800, createLogger("silent"));
    writer.enter(socket(1));
    expect(writer.update(socket(1), "busy", { x: 1 })).toBe(true);
    writer.leave(socket(1), "closed");
    expect(writer.size).toBe(0);
    expect(writes.map((w) => [w.entry.status, w.entry.gone])).toEqual([
      ["active", undefined],
      ["busy", undefined],
      ["busy", "closed"],
    ]);
    vi.advanceTimersByTime(1600);
    expect(writes).toHaveLength(3);
    expect(writer.update(socket(1), "idle", undefined)).toBe(false);
    await writer.close();
  });

  it("slotIndex spreads keys evenly over the slices", () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 8000; i++) counts[slotIndex(`s-${i % 300}.user.u-${i}.c${i.toString(36)}x`)]!++;
    for (const count of counts) expect(Math.abs(count - 1000)).toBeLessThan(150);
  });
});
