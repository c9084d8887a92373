import { describe, expect, it } from "vitest";
import { attachedSession } from "./test-support/attached-session.ts";
import { statusOf } from "./test-support/client-fixture.ts";

describe("publishing across disconnections", () => {
  it("a publish made while disconnected is sent once, with its id, after the re-attach", async () => {
    const { gw, client, conn: conn1, handle } = await attachedSession();
    conn1.terminate();
    await statusOf(client, "reconnecting");
    const publishing = handle.publish({ type: "input", data: { text: "offline" } });

    const conn2 = await gw.nextWelcomed();
    await conn2.attached("e1", 0);
    const publish = await conn2.take("publish");
    expect(publish.event).toEqual({ id: publish.event.id, type: "input", data: { text: "offline" } });
    expect(publish.event.id).toMatch(/^[0-9a-z]{20,}$/);
    // Attaches go out before queued publishes.
    expect(conn2.received.map((r) => r.frame.op)).toEqual(["hello", "attach", "publish"]);
    conn2.published(publish, 7);

    expect(await publishing).toEqual({ id: publish.event.id, seq: 7, duplicate: false });
    expect(conn1.all("publish")).toHaveLength(0);
    expect(conn2.all("publish")).toHaveLength(1);
  });

  it("a publish in flight when the socket drops is resent with the same id and resolves as a duplicate", async () => {
    const { gw, conn: conn1, handle } = await attachedSession();
    const publishing = handle.publish({ type: "input", data: { text: "racing" } });
    const first = await conn1.take("publish");
    conn1.terminate();

    const conn2 = await gw.nextWelcomed();
    await conn2.attached("e1", 0);
    const resend = await conn2.take("publish");
    expect(resend.event.id).toBe(first.event.id);
    conn2.published(resend, 3, true);
    expect(await publishing).toEqual({ id: first.event.id, seq: 3, duplicate: true });
  });

  it("keeps the caller's id and does not modify the caller's object", async () => {
    const { conn, handle } = await attachedSession();
    const template = { type: "input", data: { text: "t" } };
    const p1 = handle.publish(template);
    const p2 = handle.publish({ ...template, id: "my-id-1" });
    const [f1, f2] = [await conn.take("publish"), await conn.take("publish")];
    expect(template).toEqual({ type: "input", data: { text: "t" } });
    expect(f2.event.id).toBe("my-id-1");
    for (const f of [f1, f2]) conn.published(f, f.rid);
    expect((await p2).id).toBe("my-id-1");
    expect((await p1).id).toBe(f1.event.id);
  });

  it("bounds pending publishes by the welcome's maxPendingPublishes", async () => {
    const { client, conn, handle } = await attachedSession({ welcome: { limits: { maxPendingPublishes: 2 } } });
    conn.terminate();
    await statusOf(client, "reconnecting");
    const kept = [handle.publish({ type: "input" }), handle.publish({ type: "input" })];
    for (const p of kept) p.catch(() => {});
    await expect(handle.publish({ type: "input" })).rejects.toMatchObject({ code: "TOO_MANY_PENDING" });
  });

  it("rejects invalid events before queueing them", async () => {
    const { conn, handle } = await attachedSession({ welcome: { limits: { maxEventBytes: 16 } } });
    await expect(handle.publish({ type: "Not A Type" })).rejects.toMatchObject({ code: "INVALID_FRAME" });
    await expect(handle.publish({ type: "input", id: "has space" })).rejects.toMatchObject({ code: "INVALID_FRAME" });
    await expect(handle.publish({ type: "input", data: { text: "x".repeat(100) } })).rejects.toMatchObject({
      code: "EVENT_TOO_LARGE",
    });
    expect(conn.all("publish")).toHaveLength(0);
  });
});
