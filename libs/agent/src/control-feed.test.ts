import { newId } from "@threadline/protocol";
import type { SubjectRecord } from "@threadline/store";
import { type NatsServer, startNatsServer, waitFor } from "@threadline/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectAgent } from "./agent.ts";
import type { Agent } from "./agent-api.ts";
import { controlFeedOf } from "./control-feed.ts";

let nats: NatsServer;
let agent: Agent;
/** Publishes control-lane events (as a system participant: the feed does not care who wrote them). */
let writer: Agent;
beforeAll(async () => {
  nats = await startNatsServer();
  agent = await connectAgent({ servers: nats.url, id: "listener", nats: { reconnectTimeWait: 50 } });
  writer = await connectAgent({ servers: nats.url, id: "writer", kind: "system", nats: { reconnectTimeWait: 50 } });
});
afterAll(async () => {
  await writer?.close();
  await agent?.close();
  await nats?.stop();
});

const steer = (session: string, text: string) =>
  writer.publish(session, { type: "steer", turn: "t1", data: { text } }, { lane: "ctl" });

describe("ControlFeed", () => {
  it("is one feed per agent, dispatches by session (and '*'), only events stored after subscribe", async () => {
    expect(controlFeedOf(agent)).toBe(controlFeedOf(agent));
    await steer("feed1", "before");
    const mine: SubjectRecord[] = [];
    const all: SubjectRecord[] = [];
    const stopMine = await controlFeedOf(agent).subscribe("feed1", (r) => mine.push(r));
    const stopAll = await controlFeedOf(agent).subscribe("*", (r) => all.push(r));
    await steer("feed1", "one");
    await steer("feed2", "two");
    await writer.publish("feed1", { type: "note" }); // out lane: not a control event
    await waitFor(() => all.length === 2);
    expect(mine.map((r) => (r.event.data as { text: string }).text)).toEqual(["one"]);
    expect(all.map((r) => r.session)).toEqual(["feed1", "feed2"]);
    stopMine();
    stopAll();
  });

  // Last: restarts the server under the feed.
  it("keeps delivering, in order and without duplicates, across a nats-server restart", async () => {
    const seen: SubjectRecord[] = [];
    const stop = await controlFeedOf(agent).subscribe("feed3", (r) => seen.push(r));
    const before = (await steer("feed3", "before")).seq;
    await waitFor(() => seen.length === 1);
    await nats.restart();
    const texts = [`after-${newId()}`, "again"];
    for (const text of texts) {
      await waitFor(
        async () =>
          (await steer("feed3", text)
            .then(() => true)
            .catch(() => false)) || undefined,
        {
          timeoutMs: 20_000,
        },
      );
    }
    const textOf = (r: SubjectRecord) => (r.event.data as { text: string }).text;
    await waitFor(() => texts.every((t) => seen.some((r) => textOf(r) === t)), { timeoutMs: 20_000 });
    const seqs = seen.map((r) => r.seq);
    expect(seqs[0]).toBe(before);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    stop();
  });
});
