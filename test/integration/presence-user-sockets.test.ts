import { expect, onTestFinished, test } from "vitest";
import { watchPresence } from "./support/presence.ts";
import { RawSocket } from "./support/raw-socket.ts";
import { testStack } from "./support/stack.ts";

test("a closed tab leaves at once (reason closed); a user with three sockets joins once, updates per device, leaves after the last", async () => {
  const stack = await testStack();
  const { log } = await watchPresence(stack.nats, "tabs");
  const token = await stack.token({ sub: "alice" });

  const tabs: RawSocket[] = [];
  for (const device of ["tab-a", "tab-b", "tab-c"]) {
    const tab = await RawSocket.connect(stack.gateway.url, token, { device });
    onTestFinished(() => tab.close());
    await tab.request({ op: "attach", session: "tabs", from: "now" });
    tabs.push(tab);
  }
  await log.next((e) => e.type === "presence.update" && e.data?.devices.length === 3);

  // Two tabs go: one closes its socket, one detaches. Still present with one device.
  await tabs[0]!.close();
  await tabs[1]!.request({ op: "detach", session: "tabs" });
  await log.next((e) => e.type === "presence.update" && e.data?.devices.length === 1);
  const members = await fetch(`http://127.0.0.1:${stack.gateway.port}/v1/sessions/tabs/presence`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(members.status).toBe(200);
  const body = (await members.json()) as { members: { id: string; devices: { device: string }[] }[] };
  expect(body.members).toMatchObject([{ id: "alice", devices: [{ device: "tab-c" }] }]);

  // The last tab is dropped without a close frame: the gateway sees the socket close and writes the tombstone.
  tabs[2]!.terminate();
  const leave = await log.next((e) => e.type === "presence.leave");
  expect(leave.data).toMatchObject({ kind: "user", id: "alice", reason: "closed", devices: [] });

  expect(log.events.map((e) => e.type)).toEqual([
    "presence.join",
    "presence.update",
    "presence.update",
    "presence.update",
    "presence.update",
    "presence.leave",
  ]);
  expect(log.events[0]?.from).toEqual({ kind: "system", id: "presence" });
  // The stored session holds the same events exactly once.
  const stored: string[] = [];
  for await (const r of stack.agent.history("tabs")) stored.push(r.event.type);
  expect(stored).toEqual(log.events.map((e) => e.type));
});

test("GET /v1/sessions/:id/presence is authorized like attach", async () => {
  const stack = await testStack();
  const url = `http://127.0.0.1:${stack.gateway.port}/v1/sessions/private/presence`;
  expect((await fetch(url)).status).toBe(401);
  const bad = await fetch(url, { headers: { authorization: "Bearer nope" } });
  expect(bad.status).toBe(401);
  const other = await stack.token({ sub: "bob", grants: [{ session: "public", can: ["read"] }] });
  const forbidden = await fetch(url, { headers: { authorization: `Bearer ${other}` } });
  expect(forbidden.status).toBe(403);
  expect(await forbidden.json()).toMatchObject({ code: "FORBIDDEN" });
  const ok = await fetch(url.replace("private", "public"), { headers: { authorization: `Bearer ${other}` } });
  expect(await ok.json()).toEqual({ session: "public", members: [] });
});
