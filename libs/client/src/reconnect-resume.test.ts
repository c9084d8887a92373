import { describe, expect, it } from "vitest";
import { attachedSession } from "./test-support/attached-session.ts";
import { appliedSeq, iterateUntil, recordSeqs, statusOf, testClient } from "./test-support/client-fixture.ts";
import { FakeGateway } from "./test-support/fake-gateway.ts";

describe("reconnect and resume", () => {
  it("after an abrupt close, reconnects with a fresh token and re-attaches from the exact last seq", async () => {
    let tokens = 0;
    const {
      gw,
      statuses,
      hello,
      conn: conn1,
      handle,
    } = await attachedSession({ client: { token: async () => `tok-${++tokens}` } });
    expect(hello.token).toBe("tok-1");
    const seqs = recordSeqs(handle);
    const iterating = iterateUntil(handle, 9);
    conn1.events("s1", 3, 5);
    await appliedSeq(handle, 5);

    conn1.terminate();
    const conn2 = await gw.nextConnection();
    expect((await conn2.welcome()).token).toBe("tok-2");
    const reattach = await conn2.take("attach");
    expect(reattach.from).toEqual({ epoch: "e1", seq: 5, id: "ev-5" });
    conn2.answerAttach(reattach, "e1", 5);
    conn2.events("s1", 5, 7, 9); // 5 is a replay of what the client already applied
    conn2.synced("s1", 9);
    await handle.whenSynced();
    await iterating.done;

    expect(seqs).toEqual([3, 5, 7, 9]);
    expect(iterating.seqs).toEqual([3, 5, 7, 9]);
    expect(statuses.map((s) => s.type)).toEqual(["connecting", "connected", "reconnecting", "connecting", "connected"]);
    expect(statuses[2]).toMatchObject({ type: "reconnecting", attempt: 1, delayMs: 5, error: { code: "CLOSED" } });
    expect(statuses[3]).toEqual({ type: "connecting", attempt: 1 });
  });

  it("re-attaches from the last attached `from` when no event was applied yet", async () => {
    const { gw, conn: conn1, attach, handle } = await attachedSession({ attach: { from: "now" }, from: 42 });
    expect(attach.from).toBe("now");
    conn1.close(4000, "reconnect");
    const conn2 = await gw.nextWelcomed();
    expect((await conn2.attached("e1", 42)).from).toEqual({ epoch: "e1", seq: 42 });
    expect(handle.position).toBeUndefined();
  });

  it("re-attaches every session and the status resets to connected with the new connection", async () => {
    const { gw, client, conn: conn1 } = await attachedSession({ session: "a" });
    const b = client.attach("b");
    await conn1.attached("e1", 0);
    const handleB = await b;
    conn1.events("b", 4);
    await appliedSeq(handleB, 4);

    conn1.close(1001, "going away");
    expect((await statusOf(client, "reconnecting")).error?.code).toBe("CLOSED");
    const conn2 = await gw.nextWelcomed();
    const first = await conn2.take("attach");
    const second = await conn2.take("attach");
    expect([first, second].map((f) => [f.session, f.from])).toEqual([
      ["a", { epoch: "e1", seq: 0 }],
      ["b", { epoch: "e1", seq: 4, id: "ev-4" }],
    ]);
  });

  it("waits at least 5 s after a FLOOD close", async () => {
    const gw = await FakeGateway.start();
    const { client } = testClient(gw.url);
    void client.attach("s1").catch(() => {});
    const conn = await gw.nextWelcomed();
    conn.close(4003, "flood");
    const reconnecting = await statusOf(client, "reconnecting");
    expect(reconnecting.delayMs).toBe(5_000);
    expect(reconnecting.error?.code).toBe("RATE_LIMITED");
  });
});
