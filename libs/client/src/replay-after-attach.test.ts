import { describe, expect, it } from "vitest";
import { attachedSession, pendingAttach } from "./test-support/attached-session.ts";
import { appliedSeq, iterateUntil, recordSeqs } from "./test-support/client-fixture.ts";

// The replay that follows `attached` reaches listeners registered after `await client.attach()`,
// without the library waiting a macrotask (it used to hold frames with setTimeout 0).
describe("the replay after attach", () => {
  it("reaches listeners registered right after the await, even when it arrived with `attached`", async () => {
    const { conn, attaching } = await pendingAttach({ attach: { from: "start" } });
    conn.answerAttach(await conn.take("attach"), "e1", 0);
    conn.events("s1", 1, 2, 3);
    conn.synced("s1", 3);
    const handle = await attaching;
    const seqs = recordSeqs(handle);
    const syncs: number[] = [];
    handle.onSynced((seq) => syncs.push(seq));
    await handle.whenSynced();
    conn.events("s1", 4);
    await appliedSeq(handle, 4);
    expect(seqs).toEqual([1, 2, 3, 4]);
    expect(syncs).toEqual([3]);
  });

  it("reaches the first consumers even when they subscribe once the replay was applied", async () => {
    const { conn, handle } = await attachedSession({ attach: { from: "start" } });
    conn.events("s1", 1, 2);
    conn.synced("s1", 2);
    await handle.whenSynced();
    expect(handle.position?.seq).toBe(2); // applied (views, acks, storage) before anyone listened
    const early = recordSeqs(handle);
    const iterating = iterateUntil(handle, 3);
    conn.events("s1", 3);
    await iterating.done;
    const late = recordSeqs(handle); // something was delivered since: from now on only
    conn.events("s1", 4);
    await appliedSeq(handle, 4);
    expect(early).toEqual([1, 2, 3, 4]);
    expect(iterating.seqs).toEqual([1, 2, 3]);
    expect(late).toEqual([4]);
  });
});
