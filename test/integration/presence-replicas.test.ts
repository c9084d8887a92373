import { Kvm } from "@nats-io/kv";
import { connectAgent } from "@threadline/agent";
import { startNatsServer, waitFor } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import { connectionOf } from "../../libs/agent/src/agent.ts";
import { appAuth, presenceEventLog, startAgentProcess, startPresence } from "./support/presence.ts";

test("two presence replicas store each transition exactly once (join, update, leave, crash, timeout)", async () => {
  const nats = await startNatsServer({ systemAccount: true });
  onTestFinished(() => nats.stop());
  const a = await startPresence(nats, { THREADLINE_PRESENCE_ID: "a" });
  onTestFinished(() => a.close());
  const b = await startPresence(nats, { THREADLINE_PRESENCE_ID: "b" });
  onTestFinished(() => b.close());
  const log = presenceEventLog(a.nc, "dup");
  onTestFinished(() => log.stop());

  const agent = await connectAgent({ ...appAuth(nats), id: "worker" });
  onTestFinished(() => agent.close());
  const me = agent.presence("dup");
  // Each change waits until the service reported the previous one: a history-1 bucket keeps only the newest
  // value of a key, so an entry overwritten before the watchers read it is coalesced (PROTOCOL.md §16.1) —
  // nats-server itself skips it (seen 1 in ~30 runs under load, pull and push consumers alike).
  const reported = (type: string) => log.next((e) => e.type === type && e.data?.id === "worker");
  await me.enter({ status: "active" });
  await reported("presence.join");
  await me.update("thinking");
  await reported("presence.update");
  await me.leave();
  // A silent participant: one entry (300 ms heartbeat interval) and then no heartbeat again → expired after ~900 ms.
  const kv = await new Kvm(connectionOf(agent).js).open("threadline-presence");
  const silent = {
    kind: "agent",
    id: "silent",
    connection: "c1",
    status: "active",
    since: Date.now(),
    heartbeatMs: 300,
  };
  await kv.put("dup.agent.silent.c1", JSON.stringify(silent));
  const child = await startAgentProcess(nats, { id: "child", session: "dup", heartbeatMs: 20_000 });
  onTestFinished(() => child.kill("SIGKILL"));
  await child.kill("SIGKILL");

  await log.next((e) => e.type === "presence.leave" && e.data?.id === "child");
  await log.next((e) => e.type === "presence.leave" && e.data?.id === "silent");
  const stored: { type: string; id: string; reason?: string }[] = [];
  for await (const r of agent.history("dup")) {
    const data = r.event.data as { id: string; reason?: string };
    stored.push({ type: r.event.type, id: data.id, ...(data.reason ? { reason: data.reason } : {}) });
  }
  const byParticipant = (id: string) => stored.filter((s) => s.id === id);
  expect(byParticipant("worker")).toEqual([
    { type: "presence.join", id: "worker" },
    { type: "presence.update", id: "worker" },
    { type: "presence.leave", id: "worker", reason: "left" },
  ]);
  expect(byParticipant("silent")).toEqual([
    { type: "presence.join", id: "silent" },
    { type: "presence.leave", id: "silent", reason: "timeout" },
  ]);
  expect(byParticipant("child")).toEqual([
    { type: "presence.join", id: "child" },
    { type: "presence.leave", id: "child", reason: "crashed" },
  ]);
  expect(stored).toHaveLength(7);
  // Both replicas published every transition; the stream kept one of each.
  const results = async (r: typeof a) =>
    Object.fromEntries(
      (await r.service.metrics.events.get()).values.map((v) => [`${v.labels.type}:${v.labels.result}`, v.value]),
    );
  let [ra, rb] = [await results(a), await results(b)];
  const total = (type: string) =>
    (ra[`${type}:stored`] ?? 0) +
    (rb[`${type}:stored`] ?? 0) +
    (ra[`${type}:duplicate`] ?? 0) +
    (rb[`${type}:duplicate`] ?? 0);
  // Each replica confirms a duplicate ack (a read of the stored message) before counting it: wait until both
  // replicas counted the last transition rather than read the counters while one is still confirming.
  await waitFor(
    async () => {
      [ra, rb] = [await results(a), await results(b)];
      return total("presence.join") + total("presence.leave") >= 12;
    },
    { message: () => `presence events counted: ${JSON.stringify({ ra, rb })}` },
  );
  expect((ra["presence.join:stored"] ?? 0) + (rb["presence.join:stored"] ?? 0)).toBe(3);
  expect(total("presence.join")).toBe(6);
  expect(total("presence.leave")).toBe(6);
});
