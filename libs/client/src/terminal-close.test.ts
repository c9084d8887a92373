import { describe, expect, it } from "vitest";
import { attachedSession } from "./test-support/attached-session.ts";
import { statusOf, testClient } from "./test-support/client-fixture.ts";
import { FakeGateway } from "./test-support/fake-gateway.ts";

/** Long enough for several reconnect attempts at the test backoff (5–20 ms): a window to observe none happens. */
const QUIET_MS = 150;

describe("terminal closes", () => {
  it("AUTH_FAILED (4500) stops reconnecting, reports the gateway's error and rejects the pending attach", async () => {
    const gw = await FakeGateway.start();
    const { client, statuses } = testClient(gw.url);
    const attaching = client.attach("s1");
    const conn = await gw.nextConnection();
    await conn.take("hello");
    conn.error({}, "AUTH_FAILED", "bad signature");
    conn.close(4500, "auth failed");

    const closed = await statusOf(client, "closed");
    expect(closed).toMatchObject({
      code: 4500,
      reason: "auth failed",
      error: { code: "AUTH_FAILED", message: "bad signature" },
    });
    await expect(attaching).rejects.toMatchObject({ code: "AUTH_FAILED" });
    await new Promise((r) => setTimeout(r, QUIET_MS));
    expect(gw.connections).toHaveLength(1);
    expect(statuses.map((s) => s.type)).toEqual(["connecting", "closed"]);
    await expect(client.attach("s2")).rejects.toMatchObject({ code: "CLOSED" });
  });

  it("a terminal close while connected rejects pending publishes and ends the session's iterators", async () => {
    const { gw, client, conn, handle } = await attachedSession();
    const iterator = handle.events()[Symbol.asyncIterator]();
    const publishing = handle.publish({ type: "input", data: { text: "hi" } });
    await conn.take("publish");
    conn.close(4503, "protocol error");

    await expect(publishing).rejects.toMatchObject({ code: "INVALID_FRAME" });
    await expect(iterator.next()).rejects.toMatchObject({ code: "INVALID_FRAME" });
    expect((await statusOf(client, "closed")).code).toBe(4503);
    await new Promise((r) => setTimeout(r, QUIET_MS));
    expect(gw.connections).toHaveLength(1);
  });

  it("gives up after reconnect.maxAttempts failed attempts", async () => {
    const gw = await FakeGateway.start();
    const { client, statuses } = testClient(gw.url, { reconnect: { initialDelayMs: 1, jitter: 0, maxAttempts: 2 } });
    const attaching = client.attach("s1");
    for (let i = 0; i < 3; i++) (await gw.nextConnection()).terminate();
    const closed = await statusOf(client, "closed");
    expect(closed.error).toMatchObject({ code: "UNAVAILABLE", retryable: false });
    expect(closed.error?.message).toMatch(/gave up after 2 reconnect attempts/);
    await expect(attaching).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(statuses.filter((s) => s.type === "connecting").map((s) => (s as { attempt: number }).attempt)).toEqual([
      0, 1, 2,
    ]);
  });

  it("close() ends iterators cleanly, rejects later calls and closes the socket with 1000", async () => {
    const { client, conn, handle } = await attachedSession();
    const iterator = handle.events()[Symbol.asyncIterator]();
    await client.close();
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
    expect(client.status).toEqual({ type: "closed", code: 1000, reason: "client closed" });
    expect((await conn.closed).code).toBe(1000);
    await expect(handle.publish({ type: "input" })).rejects.toMatchObject({ code: "CLOSED" });
    await expect(handle.whenSynced()).rejects.toMatchObject({ code: "CLOSED" });
  });

  it("a token function gets a second chance after TOKEN_EXPIRED on a welcomed socket", async () => {
    const gw = await FakeGateway.start();
    let calls = 0;
    const { client } = testClient(gw.url, { token: () => `t${++calls}` });
    void client.attach("s1").catch(() => {});
    const conn1 = await gw.nextWelcomed();
    conn1.error({}, "TOKEN_EXPIRED", "expired");
    conn1.close(4501, "token expired");
    const conn2 = await gw.nextConnection();
    expect((await conn2.welcome()).token).toBe("t2");
    expect(await statusOf(client, "connected")).toMatchObject({ type: "connected" });
  });
});
