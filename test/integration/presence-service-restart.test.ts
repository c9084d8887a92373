import { connectAgent } from "@threadline/agent";
import { startNatsServer } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import { appAuth, startPresence, watchPresence } from "./support/presence.ts";

test("a restarted presence service rebuilds its view and emits no false leave or join; a leave it missed is published once", async () => {
  const nats = await startNatsServer({ systemAccount: true });
  onTestFinished(() => nats.stop());
  const { presence: first, log } = await watchPresence(nats, "stay");

  const agent = await connectAgent({ ...appAuth(nats), id: "stayer" });
  onTestFinished(() => agent.close());
  const stayer = agent.presence("stay", { heartbeatMs: 500 });
  await stayer.enter({ status: "busy" });
  const other = await connectAgent({ ...appAuth(nats), id: "goner" });
  onTestFinished(() => other.close());
  const goner = other.presence("stay", { heartbeatMs: 500 });
  await goner.enter();
  await log.next((e) => e.type === "presence.join" && e.data?.id === "goner");
  await first.service.close();

  // While no presence service runs, one participant leaves and time passes: two heartbeat intervals of the
  // stayer (the condition under test — the new service must not take their age for an expiry).
  await goner.leave();
  await new Promise((resolve) => setTimeout(resolve, 1000));

  const second = await startPresence(nats);
  onTestFinished(() => second.close());
  expect(second.service.members("stay")).toMatchObject([{ id: "stayer", status: "busy" }]);
  await log.next((e) => e.type === "presence.leave" && e.data?.id === "goner");
  // Keep running over several heartbeat intervals and sweeps: nothing about the stayer.
  await stayer.update("idle");
  await log.next((e) => e.type === "presence.update" && e.data?.id === "stayer");
  // Restart again right away: the reconciled leave must not be stored twice.
  await second.close();
  const third = await startPresence(nats);
  onTestFinished(() => third.close());
  await stayer.update("active");
  await log.next((e) => e.type === "presence.update" && e.data?.status === "active");

  const stored: string[] = [];
  for await (const r of agent.history("stay")) stored.push(`${r.event.type}:${(r.event.data as { id: string }).id}`);
  expect(stored).toEqual([
    "presence.join:stayer",
    "presence.join:goner",
    "presence.leave:goner",
    "presence.update:stayer",
    "presence.update:stayer",
  ]);
});
