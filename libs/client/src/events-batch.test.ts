import { describe, expect, it } from "vitest";
import { attachedSession } from "./test-support/attached-session.ts";
import { iterateUntil, recordSeqs } from "./test-support/client-fixture.ts";

describe("events frames (catch-up batches, PROTOCOL.md §7.3)", () => {
  it("asks for them in hello", async () => {
    const { hello } = await attachedSession();
    expect(hello.accept).toEqual(["events"]);
  });

  it("delivers a batch as its events one by one: same dedupe, order and position as event frames", async () => {
    const { conn, handle } = await attachedSession({ from: 10 });
    const seqs = recordSeqs(handle);
    const iterating = iterateUntil(handle, 16);
    // 10 is the attachment's start (already seen); the second batch overlaps the first, as after a resend.
    conn.batch("s1", 10, 11, 12);
    conn.batch("s1", 12, 13);
    conn.events("s1", 13, 14);
    conn.batch("s1", 15, 16);
    conn.synced("s1", 16);
    await handle.whenSynced();
    await iterating.done;
    expect(seqs).toEqual([11, 12, 13, 14, 15, 16]);
    expect(iterating.seqs).toEqual([11, 12, 13, 14, 15, 16]);
    expect(handle.position).toEqual({ epoch: "e1", seq: 16, id: "ev-16" });
  });

  it("ignores a batch of another session and a malformed batch", async () => {
    const { conn, handle } = await attachedSession();
    const seqs = recordSeqs(handle);
    conn.batch("other", 1, 2);
    conn.send({ op: "events", session: "s1", seqs: 5, events: [] });
    conn.batch("s1", 3);
    conn.synced("s1", 3);
    await handle.whenSynced();
    expect(seqs).toEqual([3]);
  });
});
