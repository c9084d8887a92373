import { startNatsServer } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import { presenceEventLog, startAgentProcess, startPresence } from "./support/presence.ts";

test("an agent process killed with SIGKILL leaves with reason crashed (disconnect advisory, not heartbeat expiry)", async () => {
  const nats = await startNatsServer({ systemAccount: true });
  onTestFinished(() => nats.stop());
  const presence = await startPresence(nats);
  onTestFinished(() => presence.close());
  expect(presence.service.advisories).toBe(true);
  const log = presenceEventLog(presence.nc, "crash1");
  onTestFinished(() => log.stop());

  // Heartbeats every 20 s: expiry would take 60 s, so a leave within the test timeout can only come from the advisory.
  const agent = await startAgentProcess(nats, { id: "doomed", session: "crash1", heartbeatMs: 20_000 });
  onTestFinished(() => agent.kill("SIGKILL"));
  const join = await log.next((e) => e.type === "presence.join" && e.data?.id === "doomed");
  expect(join.data).toMatchObject({ kind: "agent", id: "doomed", status: "active", name: "child agent" });

  await agent.kill("SIGKILL");
  const leave = await log.next((e) => e.type === "presence.leave" && e.data?.id === "doomed", 15_000);
  expect(leave.data?.reason).toBe("crashed");
  expect(leave.data?.devices).toEqual([]);
  expect(presence.service.members("crash1")).toEqual([]);
  const detections = await presence.service.metrics.detections.get();
  expect(detections.values.find((v) => v.labels.reason === "crashed")?.value).toBe(1);
});
