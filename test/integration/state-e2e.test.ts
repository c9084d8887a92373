import { serveAgent } from "@threadline/agent";
import { createClient, type SessionHandle, ThreadlineError } from "@threadline/client";
import { ErrorCode, type JsonValue, type SessionRecord } from "@threadline/protocol";
import { waitFor } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import WebSocket from "ws";
import { testStack } from "./support/stack.ts";
import { storedState, storedStateSeqs } from "./support/state.ts";

// Shared state end to end (issue 15): two devices of a user, an agent's turn
// and a late joiner, through the real gateway, SDKs and nats-server.

test("a user's cart reaches the other device and the agent's turn; the agent's checklist reaches both devices; users cannot write agent- objects; a late joiner gets the snapshot", async () => {
  const stack = await testStack();
  const session = `state-e2e-${process.pid}`;
  const turnSaw: (JsonValue | undefined)[] = [];
  const server = await serveAgent({
    agent: stack.agent,
    name: "shop",
    entry: true,
    handler: async (ctx) => {
      // The cart as of the input: written by the app before the user pressed send.
      const cart = await ctx.state("cart");
      turnSaw.push(cart.get());
      const checklist = await ctx.state("agent-checklist");
      await checklist.set([], { steps: ["check stock", "reserve"], done: 0 });
      await checklist.increment(["done"]);
    },
  });
  onTestFinished(() => server.stop({ graceMs: 0 }));

  const device = (name: string) => {
    const client = createClient({
      url: stack.gateway.url,
      token: () => stack.token({ sub: "alice" }),
      device: name,
      WebSocket: WebSocket as never,
      reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
    });
    onTestFinished(() => client.close());
    return client;
  };
  const a = await device("phone").attach(session, { from: "start" });
  const b = await device("laptop").attach(session, { from: "start" });
  const aRecords: SessionRecord[] = [];
  a.onEvent((r) => aRecords.push(r));

  // Device A writes the cart; device B's subscription fires with the same value and version.
  const seenByB: JsonValue[] = [];
  b.state("cart").subscribe(({ value }) => seenByB.push(value as JsonValue));
  const cartValue = { items: [{ sku: "sku-42", qty: 1 }] };
  const cartVersion = await a.state("cart").set([], cartValue);
  expect(cartVersion).toBeGreaterThan(0);
  await waitFor(() => b.state("cart").version === cartVersion, { message: "device B did not see the cart" });
  expect(b.state("cart").get()).toEqual(cartValue);
  expect(seenByB).toEqual([cartValue]);
  expect(b.state("cart").updatedBy).toEqual({ kind: "user", id: "alice" });

  // The agent's turn reads the cart written before the input, and writes its own agent- object.
  const { id: turn } = await a.publish({ type: "input", data: { text: "is this in stock?" } });
  const done = (h: SessionHandle) => h.state("agent-checklist").get() as { done?: number } | undefined;
  await waitFor(() => done(a)?.done === 1 && done(b)?.done === 1, {
    timeoutMs: 15_000,
    message: "the agent's checklist did not reach both devices",
  });
  expect(turnSaw).toEqual([cartValue]);
  for (const h of [a, b]) {
    expect(h.state("agent-checklist").get()).toEqual({ steps: ["check stock", "reserve"], done: 1 });
    expect(h.state("agent-checklist").updatedBy).toEqual({ kind: "agent", id: "test-agent" });
  }
  await waitFor(() => aRecords.some((r) => r.event.type === "turn.end" && r.event.turn === turn), {
    message: "the turn did not end",
  });

  // A user's write to an agent- object is FORBIDDEN and stores nothing: refused by the SDK's own check,
  // and refused by the gateway when sent raw (a client without the pre-check).
  const seqsBefore = await storedStateSeqs(stack.nc, session);
  const local = await a
    .state("agent-checklist")
    .set(["done"], 99)
    .catch((e: unknown) => e);
  expect(local).toBeInstanceOf(ThreadlineError);
  expect((local as ThreadlineError).code).toBe(ErrorCode.FORBIDDEN);
  const raw = await b
    .publish({ type: "state", data: { op: "set", object: "agent-checklist", path: ["done"], value: 99 } })
    .catch((e: unknown) => e);
  expect(raw).toBeInstanceOf(ThreadlineError);
  expect((raw as ThreadlineError).code).toBe(ErrorCode.FORBIDDEN);
  expect(await storedStateSeqs(stack.nc, session)).toEqual(seqsBefore);
  expect(a.state("agent-checklist").get()).toEqual({ steps: ["check stock", "reserve"], done: 1 });

  // A late joiner attaching from "now" holds every object at once (the snapshot), without the history.
  const expected = await storedState(stack.nc, session);
  const c = await device("tablet").attach(session, { from: "now" });
  const cRecords: SessionRecord[] = [];
  c.onEvent((r) => cRecords.push(r));
  expect(c.states()).toEqual(expected.objects);
  expect(c.state("cart").get()).toEqual(cartValue);
  expect(c.state("cart").version).toBe(cartVersion);
  await c.whenSynced();
  expect(cRecords).toEqual([]);

  // ...and follows the next change like the others.
  const next = await b.state("cart").increment(["items", 0, "qty"]);
  await waitFor(() => c.state("cart").version === next && a.state("cart").version === next);
  expect(c.state("cart").get()).toEqual({ items: [{ sku: "sku-42", qty: 2 }] });
  expect(cRecords.map((r) => r.seq)).toEqual([next]);
  expect(c.states()).toEqual(a.states());
}, 60_000);
