import { describe, expect, it } from "vitest";
import { notifierRig, startNotifier } from "./support/notifier.ts";

// An approval answered from another device (or by an operator) before it is due is not notified;
// operator-only approvals never are.
describe("notifier: calls answered elsewhere", () => {
  it("an approval answered within the delay → none; one still pending → notified with its deadline as TTL", async () => {
    const rig = await notifierRig();
    const { log } = await startNotifier(rig, { THREADLINE_NOTIFY_DELAY_MS: "800" });
    await rig.subscribe("ola");
    await rig.userWrites("calls-1", "ola");
    const request = async (call: string, approvers: string[], timeoutMs = 120_000) => {
      await rig.control.createCall("calls-1", call, {
        kind: "approval",
        turn: "t1",
        status: "pending",
        deadline: Date.now() + timeoutMs,
      });
      return (
        await rig.agent.publish("calls-1", {
          type: "approval.request",
          turn: "t1",
          ref: call,
          data: { call, action: `do ${call}`, approvers, timeoutMs },
        })
      ).seq;
    };

    const answered = await request("c1", ["user"]);
    await log.next((o) => o.seq === answered && o.outcome === "waiting");
    const entry = await rig.control.getCall("calls-1", "c1");
    await rig.control.casCall(
      "calls-1",
      "c1",
      { ...entry!.value, status: "answered", answeredAt: Date.now() },
      entry!.revision,
    );
    expect(await log.next((o) => o.seq === answered && o.user === "ola")).toMatchObject({
      outcome: "skipped",
      reason: "answered",
    });

    const operatorsOnly = await request("c2", ["operator"]);
    const pending = await request("c3", ["user", "operator"], 90_000);
    const pushed = await rig.push.next(undefined, 10_000);
    expect(pushed.json).toMatchObject({ kind: "approval", count: 1, body: "do c3", position: { seq: pending } });
    expect(pushed.urgency).toBe("high");
    expect(pushed.ttl).toBeLessThanOrEqual(90);
    expect(pushed.ttl).toBeGreaterThan(80);
    await rig.settled();
    expect(rig.push.received()).toHaveLength(1);
    // the operator-only approval is no trigger at all
    expect(log.events.filter((o) => o.seq === operatorsOnly)).toEqual([]);
  });
});
