import { describe, expect, it } from "vitest";
import { appliedSeq, recordSeqs, testClient } from "./test-support/client-fixture.ts";
import { FakeGateway } from "./test-support/fake-gateway.ts";

// The replay that follows `attached` reaches listeners registered after `await client.attach()`,
// without the library waiting a macrotask (it used to hold frames with setTimeout 0).
describe("the replay after attach", () => {
  it("reaches listeners registered right after the await, even when it arrived with `attached`", async () => {
    const gw = await FakeGateway.start();
    const { client } = testClient(gw.url);
    const attaching = client.attach("s1", { from: "start" });
    const conn = await gw.nextConnection();
    await conn.welcome();
    const attach = await conn.take("attach");
    conn.send({ op: "attached", rid: attach.rid, session: "s1", epoch: "e1", from: 0 });
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
    const gw = await FakeGateway.start();
    const { client } = testClient(gw.url);
    const attaching = client.attach("s1", { from: "start" });
    const conn = await gw.nextConnection();
    await conn.welcome();
    await conn.attached("e1", 0);
    const handle = await attaching;
    conn.events("s1", 1, 2);
    conn.synced("s1", 2);
    await handle.whenSynced();
    expect(handle.position?.seq).toBe(2); // applied (views, acks, storage) before anyone listened
    const early = recordSeqs(handle);
    const iterated: number[] = [];
    const iterating = (async () => {
      for await (const record of handle.events()) {
        iterated.push(record.seq);
        if (record.seq === 3) break;
      }
    })();
    conn.events("s1", 3);
    await iterating;
    const late = recordSeqs(handle); // something was delivered since: from now on only
    conn.events("s1", 4);
    await appliedSeq(handle, 4);
    expect(early).toEqual([1, 2, 3, 4]);
    expect(iterated).toEqual([1, 2, 3]);
    expect(late).toEqual([4]);
  });
});
