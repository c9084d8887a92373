import type { SessionRecord } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { attachedSession } from "./test-support/attached-session.ts";

describe("events() backpressure", () => {
  it("a consumer more than highWaterMark behind gets the buffered events, then SLOW_CONSUMER; the handle goes on", async () => {
    const { conn, handle } = await attachedSession();
    const slow = handle.events({ highWaterMark: 3 });
    const everything = handle.events();
    conn.events("s1", 1, 2, 3, 4, 5);
    conn.synced("s1", 5);
    await handle.whenSynced();

    const got: number[] = [];
    let failure: unknown;
    try {
      for await (const record of slow) got.push(record.seq);
    } catch (error) {
      failure = error;
    }
    expect(got).toEqual([1, 2, 3]);
    expect(failure).toMatchObject({ code: "SLOW_CONSUMER", session: "s1" });
    expect((failure as Error).message).toMatch(/seq 4 and later were not delivered/);

    const all: SessionRecord[] = [];
    for await (const record of everything) {
      all.push(record);
      if (record.seq === 5) break;
    }
    expect(all.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(all[0]?.event).toMatchObject({ id: "ev-1", data: { text: "#1" } });
    expect(handle.position?.seq).toBe(5);
  });
});
