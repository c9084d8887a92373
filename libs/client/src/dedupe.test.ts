import { describe, expect, it } from "vitest";
import { recordSeqs, testClient } from "./test-support/client-fixture.ts";
import { FakeGateway } from "./test-support/fake-gateway.ts";

describe("event dedupe by seq", () => {
  it("applies each seq once, in order, and drops duplicates and stale seqs", async () => {
    const gw = await FakeGateway.start();
    const { client } = testClient(gw.url);
    const attaching = client.attach("s1");
    const conn = await gw.nextConnection();
    await conn.welcome();
    await conn.attached("e1", 10);
    const handle = await attaching;
    const seqs = recordSeqs(handle);
    const iterated: number[] = [];
    const iterating = (async () => {
      for await (const record of handle.events()) {
        iterated.push(record.seq);
        if (record.seq === 14) break;
      }
    })();
    // 10 is the attachment's start (already seen), 9 is older, 11 repeats.
    conn.events("s1", 10, 11, 11, 9, 12, 10, 12, 14);
    conn.synced("s1", 14);
    await handle.whenSynced();
    await iterating;
    expect(seqs).toEqual([11, 12, 14]);
    expect(iterated).toEqual([11, 12, 14]);
    expect(handle.position).toEqual({ epoch: "e1", seq: 14, id: "ev-14" });
  });

  it("ignores events for sessions it is not attached to", async () => {
    const gw = await FakeGateway.start();
    const { client } = testClient(gw.url);
    const attaching = client.attach("s1");
    const conn = await gw.nextConnection();
    await conn.welcome();
    await conn.attached("e1", 0);
    const handle = await attaching;
    const seqs = recordSeqs(handle);
    conn.events("other", 1, 2);
    conn.events("s1", 3);
    conn.synced("s1", 3);
    await handle.whenSynced();
    expect(seqs).toEqual([3]);
  });
});
