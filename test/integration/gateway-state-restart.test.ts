import { connect } from "@nats-io/transport-node";
import type { StateOp } from "@threadline/protocol";
import { startNatsServer, waitFor } from "@threadline/test-kit";
import { expect, it, onTestFinished } from "vitest";
import { spawnGateway } from "./support/gateway-process.ts";
import { RawSocket } from "./support/raw-socket.ts";
import { startStack } from "./support/stack.ts";
import { agentStateOp, attachWithState, publishState, storedState } from "./support/state.ts";
import { mintToken } from "./support/tokens.ts";

// Shared state across restarts (PROTOCOL.md §19.5): a gateway that starts cold rebuilds its view of a
// session's state from the stream, and a gateway whose nats-server restarted keeps it current; either
// way the `state` frame equals the fold of the stored state events at `from`, and the pre-check judges
// against the real current versions.

const inc = (object: string): StateOp => ({ object, op: "increment", path: ["n"] }) as StateOp;

it("after a gateway is SIGKILLed, another gateway serves the same snapshot and refuses stale versions", async () => {
  const nats = await startNatsServer();
  onTestFinished(() => nats.stop());
  const nc = await connect({ servers: nats.url });
  onTestFinished(() => nc.close());
  const a = await spawnGateway(nats.url);
  onTestFinished(() => a.kill());
  const session = "st-gw-kill";
  const alice = await RawSocket.connect(a.url, await mintToken({ sub: "alice" }));
  onTestFinished(() => alice.close());
  const created = await publishState(alice, session, { object: "cart", op: "set", path: [], value: { n: 0 } });
  expect(created).toMatchObject({ op: "published" });
  await publishState(alice, session, inc("cart"));
  const { state: before } = await attachWithState(alice, session);
  await a.kill();
  // Changed while no gateway runs.
  const agentSeq = await agentStateOp(nc, session, inc("cart"));

  const b = await spawnGateway(nats.url, { THREADLINE_PROVISION: "false" });
  onTestFinished(() => b.kill());
  const bob = await RawSocket.connect(b.url, await mintToken({ sub: "bob" }));
  onTestFinished(() => bob.close());
  const { state } = await attachWithState(bob, session);
  expect(state.objects).toEqual((await storedState(nc, session, state.seq)).objects);
  expect(state.objects.cart).toMatchObject({ value: { n: 2 }, version: agentSeq });
  // The first device resumes on b from its position with the state it holds: the change comes as an event.
  const resumed = await RawSocket.connect(b.url, await mintToken({ sub: "alice" }));
  onTestFinished(() => resumed.close());
  const epoch = (alice.frames.find((f) => f.op === "attached") as { epoch: string }).epoch;
  await resumed.request({ op: "attach", session, from: { epoch, seq: before.seq } });
  await resumed.waitEvents(session, 1);
  expect(resumed.events(session).map((e) => e.seq)).toEqual([agentSeq]);
  // b's pre-check knows the current version without having seen the writes.
  const stale = (created as { seq: number }).seq;
  expect(
    await publishState(bob, session, { object: "cart", op: "set", path: ["n"], value: 9, ifVersion: stale }),
  ).toMatchObject({ code: "STATE_CONFLICT" });
  expect(
    await publishState(bob, session, { object: "cart", op: "set", path: ["n"], value: 9, ifVersion: agentSeq }),
  ).toMatchObject({ op: "published" });
}, 60_000);

it("after a nats-server restart, attached devices keep receiving changes and new ones get the current snapshot", async () => {
  const stack = await startStack();
  onTestFinished(() => stack[Symbol.asyncDispose]());
  const session = "st-nats-restart";
  const alice = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "alice" }));
  onTestFinished(() => alice.close());
  await publishState(alice, session, { object: "checklist", op: "set", path: [], value: { n: 0 } });
  const { state: snap } = await attachWithState(alice, session);
  expect(snap.objects.checklist?.value).toEqual({ n: 0 });

  await stack.nats.restart();
  // The agent retries until the restarted server acknowledges.
  const agentSeq = await waitFor(() => agentStateOp(stack.nc, session, inc("checklist")).catch(() => 0), {
    timeoutMs: 20_000,
  });
  await waitFor(() => alice.events(session).some((e) => e.seq === agentSeq), { timeoutMs: 20_000 });
  // The gateway's view followed the live feed through the restart: the old version is stale.
  const stale = snap.objects.checklist!.version;
  expect(
    await publishState(alice, session, { object: "checklist", op: "increment", path: ["n"], ifVersion: stale }),
  ).toMatchObject({ code: "STATE_CONFLICT" });
  const ok = await publishState(alice, session, {
    object: "checklist",
    op: "increment",
    path: ["n"],
    ifVersion: agentSeq,
  });
  expect(ok).toMatchObject({ op: "published" });
  const bob = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "bob" }));
  onTestFinished(() => bob.close());
  const { state } = await attachWithState(bob, session);
  expect(state.objects).toEqual((await storedState(stack.nc, session)).objects);
  expect(state.objects.checklist).toMatchObject({ value: { n: 2 }, version: (ok as { seq: number }).seq });
}, 60_000);
