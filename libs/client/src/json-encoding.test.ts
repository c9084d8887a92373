import { describe, expect, it } from "vitest";
import { recordSeqs, testClient } from "./test-support/client-fixture.ts";
import { FakeGateway } from "./test-support/fake-gateway.ts";

describe('encoding: "json"', () => {
  it("sends every frame as JSON text and reads the gateway's JSON replies", async () => {
    const gw = await FakeGateway.start();
    const { client } = testClient(gw.url, { encoding: "json" });
    const attaching = client.attach("s1");
    const conn = await gw.nextConnection();
    await conn.welcome();
    expect(conn.encoding).toBe("json");
    await conn.attached("e1", 0);
    const handle = await attaching;
    const seqs = recordSeqs(handle);
    conn.events("s1", 2);
    conn.synced("s1", 2);
    await handle.whenSynced();
    const publishing = handle.publish({ type: "input", data: { text: "über ✓" } });
    const publish = await conn.take("publish");
    expect(publish.event.data).toEqual({ text: "über ✓" });
    conn.published(publish, 3);
    await publishing;

    expect(seqs).toEqual([2]);
    expect(conn.received.map((r) => r.frame.op)).toEqual(["hello", "attach", "ack", "publish"]);
    expect(conn.received.every((r) => !r.binary)).toBe(true);
  });
});
