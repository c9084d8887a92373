import { describe, expect, it } from "vitest";
import { testClient } from "./test-support/client-fixture.ts";
import { FakeGateway } from "./test-support/fake-gateway.ts";

async function connectedSession(gw: FakeGateway) {
  const { client } = testClient(gw.url);
  const attaching = client.attach("s1");
  const conn = await gw.nextConnection();
  await conn.welcome();
  await conn.attached("e1", 0);
  return { conn, handle: await attaching };
}

describe("publish retries", () => {
  it.each(["PUBLISH_FAILED", "RATE_LIMITED", "UNAVAILABLE", "TOO_MANY_PENDING"])(
    "retries after a retryable %s with the same id and a new rid",
    async (code) => {
      const gw = await FakeGateway.start();
      const { conn, handle } = await connectedSession(gw);
      const publishing = handle.publish({ type: "input", data: { text: "x" } });
      const first = await conn.take("publish");
      conn.send({ op: "error", rid: first.rid, session: "s1", code, message: "try again", retryable: true });
      const second = await conn.take("publish");
      expect(second.event).toEqual(first.event);
      expect(second.rid).not.toBe(first.rid);
      conn.send({
        op: "published",
        rid: second.rid,
        session: "s1",
        id: second.event.id,
        seq: 9,
        epoch: "e1",
        duplicate: false,
      });
      expect(await publishing).toEqual({ id: first.event.id, seq: 9, duplicate: false });
    },
  );

  it("rejects a terminal error at once, without resending", async () => {
    const gw = await FakeGateway.start();
    const { conn, handle } = await connectedSession(gw);
    const publishing = handle.publish({ type: "cancel", turn: "t1" });
    const first = await conn.take("publish");
    conn.send({
      op: "error",
      rid: first.rid,
      session: "s1",
      code: "FORBIDDEN",
      message: "no control",
      retryable: false,
    });
    await expect(publishing).rejects.toMatchObject({ code: "FORBIDDEN", session: "s1", retryable: false });
    // Frames are ordered: had the first been resent, the resend would come before this one.
    void handle.publish({ type: "input" }).catch(() => {});
    const next = await conn.take("publish");
    expect(next.event.type).toBe("input");
  });

  it("gives up after a bounded number of retries with the last error", async () => {
    const gw = await FakeGateway.start();
    const { conn, handle } = await connectedSession(gw);
    const publishing = handle.publish({ type: "input" });
    const ids = new Set<string>();
    for (let i = 0; i < 7; i++) {
      const frame = await conn.take("publish");
      ids.add(frame.event.id ?? "");
      conn.send({
        op: "error",
        rid: frame.rid,
        session: "s1",
        code: "PUBLISH_FAILED",
        message: `attempt ${i}`,
        retryable: true,
      });
    }
    await expect(publishing).rejects.toMatchObject({ code: "PUBLISH_FAILED", message: "attempt 6" });
    expect(ids.size).toBe(1);
    expect(conn.all("publish")).toHaveLength(7);
  });
});
