import { describe, expect, it } from "vitest";
import { attachedSession } from "./test-support/attached-session.ts";
import { iterateUntil, recordSeqs } from "./test-support/client-fixture.ts";

describe("event dedupe by seq", () => {
  it("applies each seq once, in order, and drops duplicates and stale seqs", async () => {
    const { conn, handle } = await attachedSession({ from: 10 });
    const seqs = recordSeqs(handle);
    const iterating = iterateUntil(handle, 14);
    // 10 is the attachment's start (already seen), 9 is older, 11 repeats.
    conn.events("s1", 10, 11, 11, 9, 12, 10, 12, 14);
    conn.synced("s1", 14);
    await handle.whenSynced();
    await iterating.done;
    expect(seqs).toEqual([11, 12, 14]);
    expect(iterating.seqs).toEqual([11, 12, 14]);
    expect(handle.position).toEqual({ epoch: "e1", seq: 14, id: "ev-14" });
  });

  it("ignores events for sessions it is not attached to", async () => {
    const { conn, handle } = await attachedSession();
    const seqs = recordSeqs(handle);
    conn.events("other", 1, 2);
    conn.events("s1", 3);
    conn.synced("s1", 3);
    await handle.whenSynced();
    expect(seqs).toEqual([3]);
  });
});
