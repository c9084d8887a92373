import { describe, expect, it } from "vitest";
import { statusOf, testClient } from "./test-support/client-fixture.ts";
import { FakeGateway } from "./test-support/fake-gateway.ts";

async function connectedSession(gw: FakeGateway, limits = {}) {
  const { client } = testClient(gw.url);
  const attaching = client.attach("s1");
  const conn = await gw.nextConnection();
  await conn.welcome({ limits });
  await conn.attached("e1", 0);
  return { client, conn, handle: await attaching };
}

describe("publishing across disconnections", () => {
  it("a publish made while disconnected is sent once, with its id, after the re-attach", async () => {
    const gw = await FakeGateway.start();
    const { client, conn: conn1, handle } = await connectedSession(gw);
    conn1.terminate();
    await statusOf(client, "reconnecting");
    const publishing = handle.publish({ type: "input", data: { text: "offline" } });

    const conn2 = await gw.nextConnection();
    await conn2.welcome();
    await conn2.attached("e1", 0);
    const publish = await conn2.take("publish");
    expect(publish.event).toEqual({ id: publish.event.id, type: "input", data: { text: "offline" } });
    expect(publish.event.id).toMatch(/^[0-9a-z]{20,}$/);
    // Attaches go out before queued publishes.
    expect(conn2.received.map((r) => r.frame.op)).toEqual(["hello", "attach", "publish"]);
    conn2.send({
      op: "published",
      rid: publish.rid,
      session: "s1",
      id: publish.event.id,
      seq: 7,
      epoch: "e1",
      duplicate: false,
    });

    expect(await publishing).toEqual({ id: publish.event.id, seq: 7, duplicate: false });
    expect(conn1.all("publish")).toHaveLength(0);
    expect(conn2.all("publish")).toHaveLength(1);
  });

  it("a publish in flight when the socket drops is resent with the same id and resolves as a duplicate", async () => {
    const gw = await FakeGateway.start();
    const { conn: conn1, handle } = await connectedSession(gw);
    const publishing = handle.publish({ type: "input", data: { text: "racing" } });
    const first = await conn1.take("publish");
    conn1.terminate();

    const conn2 = await gw.nextConnection();
    await conn2.welcome();
    await conn2.attached("e1", 0);
    const resend = await conn2.take("publish");
    expect(resend.event.id).toBe(first.event.id);
    conn2.send({
      op: "published",
      rid: resend.rid,
      session: "s1",
      id: resend.event.id,
      seq: 3,
      epoch: "e1",
      duplicate: true,
    });
    expect(await publishing).toEqual({ id: first.event.id, seq: 3, duplicate: true });
  });

  it("keeps the caller's id and does not modify the caller's object", async () => {
    const gw = await FakeGateway.start();
    const { conn, handle } = await connectedSession(gw);
    const template = { type: "input", data: { text: "t" } };
    const p1 = handle.publish(template);
    const p2 = handle.publish({ ...template, id: "my-id-1" });
    const [f1, f2] = [await conn.take("publish"), await conn.take("publish")];
    expect(template).toEqual({ type: "input", data: { text: "t" } });
    expect(f2.event.id).toBe("my-id-1");
    for (const f of [f1, f2]) {
      conn.send({
        op: "published",
        rid: f.rid,
        session: "s1",
        id: f.event.id,
        seq: f.rid,
        epoch: "e1",
        duplicate: false,
      });
    }
    expect((await p2).id).toBe("my-id-1");
    expect((await p1).id).toBe(f1.event.id);
  });

  it("bounds pending publishes by the welcome's maxPendingPublishes", async () => {
    const gw = await FakeGateway.start();
    const { client, conn, handle } = await connectedSession(gw, { maxPendingPublishes: 2 });
    conn.terminate();
    await statusOf(client, "reconnecting");
    const kept = [handle.publish({ type: "input" }), handle.publish({ type: "input" })];
    for (const p of kept) p.catch(() => {});
    await expect(handle.publish({ type: "input" })).rejects.toMatchObject({ code: "TOO_MANY_PENDING" });
  });

  it("rejects invalid events before queueing them", async () => {
    const gw = await FakeGateway.start();
    const { conn, handle } = await connectedSession(gw, { maxEventBytes: 16 });
    await expect(handle.publish({ type: "Not A Type" })).rejects.toMatchObject({ code: "INVALID_FRAME" });
    await expect(handle.publish({ type: "input", id: "has space" })).rejects.toMatchObject({ code: "INVALID_FRAME" });
    await expect(handle.publish({ type: "input", data: { text: "x".repeat(100) } })).rejects.toMatchObject({
      code: "EVENT_TOO_LARGE",
    });
    expect(conn.all("publish")).toHaveLength(0);
  });
});
