import { describe, expect, it } from "vitest";
import { attachedSession, pendingAttach } from "./test-support/attached-session.ts";
import { appliedSeq, statusOf, testClient } from "./test-support/client-fixture.ts";
import { FakeGateway } from "./test-support/fake-gateway.ts";

describe("app-level ping", () => {
  it("drops a socket whose pong does not come within requestTimeoutMs and reconnects", async () => {
    const {
      gw,
      client,
      conn: conn1,
    } = await attachedSession({
      gateway: { autoPong: false },
      client: { pingIntervalMs: 20, requestTimeoutMs: 400 },
    });
    await conn1.take("ping");
    const reconnecting = await statusOf(client, "reconnecting");
    expect(reconnecting.error).toMatchObject({ code: "TIMEOUT" });
    expect(reconnecting.error?.message).toMatch(/no pong/);
    await gw.nextConnection();
  });

  it("keeps a socket that answers pings", async () => {
    const { gw, client, conn } = await attachedSession({
      gateway: { autoPong: true },
      client: { pingIntervalMs: 10, requestTimeoutMs: 1_000 },
    });
    // Several ping/pong rounds, each well past the interval, on the same socket.
    while (conn.all("ping").length < 5) await new Promise((r) => setTimeout(r, 10));
    expect(client.status.type).toBe("connected");
    expect(gw.connections).toHaveLength(1);
  });

  it("drops the socket when an attach gets no reply (re-sending on it could race the first attach)", async () => {
    const { gw, client, conn: conn1, attaching } = await pendingAttach({ client: { requestTimeoutMs: 400 } });
    await conn1.take("attach");
    expect((await statusOf(client, "reconnecting")).error?.message).toMatch(/attach got no reply/);
    const conn2 = await gw.nextWelcomed();
    await conn2.attached("e1", 0);
    await expect(attaching).resolves.toBeDefined();
  });

  it("reconnects when no welcome arrives within requestTimeoutMs", async () => {
    const gw = await FakeGateway.start();
    const { client } = testClient(gw.url, { requestTimeoutMs: 50 });
    void client.attach("s1").catch(() => {});
    await (await gw.nextConnection()).take("hello");
    expect((await statusOf(client, "reconnecting")).error?.message).toMatch(/no welcome/);
    await gw.nextConnection();
  });
});

describe("device cursor acks", () => {
  it("acks applied events coalesced (≤ 4/s), then once more on detach before the detach frame", async () => {
    const { conn, handle } = await attachedSession();
    conn.events("s1", 1, 2, 3, 4, 5);
    await appliedSeq(handle, 5);
    expect((await conn.take("ack")).seq).toBe(1); // the first ack goes out at once
    expect((await conn.take("ack")).seq).toBe(5); // the rest coalesce into one, ≥ 250 ms later
    conn.events("s1", 7);
    await appliedSeq(handle, 7);
    const detaching = handle.detach();
    const detach = await conn.take("detach");
    conn.send({ op: "detached", rid: detach.rid, session: "s1" });
    await detaching;
    const ops = conn.received.map((r) => r.frame).filter((f) => f.op === "ack" || f.op === "detach");
    expect(ops.map((f) => (f.op === "ack" ? f.seq : f.op))).toEqual([1, 5, 7, "detach"]);
  });

  it("autoAck: false sends only explicit acks, and refuses acks beyond the position", async () => {
    const { conn, handle } = await attachedSession({ attach: { autoAck: false } });
    conn.events("s1", 2, 4);
    await appliedSeq(handle, 4);
    expect(() => handle.ack(5)).toThrow(expect.objectContaining({ code: "INVALID_POSITION" }));
    handle.ack(2);
    expect(await conn.take("ack")).toEqual({ op: "ack", session: "s1", seq: 2 });
    expect(conn.all("ack")).toHaveLength(1);
  });

  it("repeats the last ack after a re-attach (the previous socket may have lost it)", async () => {
    const { gw, conn: conn1, handle } = await attachedSession();
    conn1.events("s1", 3);
    await conn1.take("ack");
    conn1.terminate();
    const conn2 = await gw.nextWelcomed();
    await conn2.attached("e1", 3);
    expect(await conn2.take("ack")).toEqual({ op: "ack", session: "s1", seq: 3 });
    expect(handle.position?.seq).toBe(3);
  });
});
