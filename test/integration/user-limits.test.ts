import { CloseCode } from "@threadline/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawSocket } from "./support/raw-socket.ts";
import { type Stack, startStack } from "./support/stack.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    gatewayEnv: {
      THREADLINE_LIMIT_MAX_SOCKETS_PER_USER: "3",
      THREADLINE_LIMIT_USER_EVENTS_PER_SECOND: "2",
      THREADLINE_LIMIT_USER_EVENT_BURST: "5",
    },
  });
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
});

const metric = async (name: string) => {
  const text = await (await fetch(`http://127.0.0.1:${stack.gateway.port}/metrics`)).text();
  return text.split("\n").find((l) => l.startsWith(name)) ?? "";
};

describe("per-user limits across sockets", () => {
  it("a user's socket over maxSocketsPerUser gets TOO_MANY_CONNECTIONS and close 4005; others unaffected", async () => {
    const token = await stack.token({ sub: "alice" });
    const three = await Promise.all([1, 2, 3].map(() => RawSocket.connect(stack.gateway.url, token)));
    for (const s of three) expect(s.frames[0]).toMatchObject({ op: "welcome" });
    const fourth = await RawSocket.connect(stack.gateway.url, token);
    expect(fourth.frames[0]).toMatchObject({ op: "error", code: "TOO_MANY_CONNECTIONS", retryable: true });
    expect(await fourth.closed).toBe(CloseCode.TOO_MANY_CONNECTIONS);
    const bob = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "bob" }));
    expect(bob.frames[0]).toMatchObject({ op: "welcome" });
    // A closed socket frees its slot.
    await three[0]!.close();
    const again = await RawSocket.connect(stack.gateway.url, token);
    expect(again.frames[0]).toMatchObject({ op: "welcome" });
    expect(await metric('threadline_gateway_user_limit_hits_total{limit="sockets"}')).toMatch(/ 1$/);
    await Promise.all([...three.slice(1), again, bob].map((s) => s.close()));
  });

  it("events/s per user are shared by all the user's sockets; other users keep publishing", async () => {
    const token = await stack.token({ sub: "carol" });
    const [a, b] = await Promise.all([
      RawSocket.connect(stack.gateway.url, token),
      RawSocket.connect(stack.gateway.url, token),
    ]);
    const publish = (s: RawSocket, i: number) =>
      s.request({ op: "publish", session: "user-rate", event: { type: "input", data: { i } } });
    const replies = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => publish(i % 2 ? a : b, i)));
    const ok = replies.filter((r) => r.op === "published").length;
    // Burst 5 (+ at most one refilled at 2/s while the requests were in flight), whichever socket sent them.
    expect(ok).toBeGreaterThanOrEqual(5);
    expect(ok).toBeLessThanOrEqual(6);
    for (const r of replies.filter((r) => r.op === "error"))
      expect(r).toMatchObject({ code: "RATE_LIMITED", retryable: true });
    const dave = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "dave" }));
    expect(await publish(dave, 99)).toMatchObject({ op: "published" });
    expect(await metric('threadline_gateway_user_limit_hits_total{limit="events"}')).toMatch(/ [23]$/);
    await Promise.all([a.close(), b.close(), dave.close()]);
  });
});
