import { setTimeout as sleep } from "node:timers/promises";
import type { NotificationPayload } from "@threadline/protocol/notification";
import { waitFor } from "@threadline/test-kit";
import { expect, test } from "vitest";
import { notifierRig, spawnNotifier } from "../integration/support/notifier.ts";
import { useChaosStack } from "./support/scenario.ts";

// Two notifier replicas share the durables and the claim ledger on the 3-node cluster (R3, the
// deployment's NATS users). While triggers for away users keep coming, the webhook receiver starts
// failing (503: senders retry, holding their claims) and one replica is SIGKILLed while it holds a
// claim. What it had pulled is redelivered to the survivor after the ack wait, its claims are taken
// over after their lease, and every trigger still yields exactly one notification on each channel.

const chaosStack = useChaosStack();

/** One trigger per session: each is its own burst, so each must give one notification of count 1. */
const TRIGGERS = 60;
const USERS = 6;
/** Pace of the trigger stream (≈ 9 s of triggers; the kill lands in its first half). */
const PACE_MS = 150;
const DELAY_MS = 1000;
const ACK_WAIT_MS = 2000;
const LEASE_MS = 2000;
/** Channel sends (push + hook) the victim completes before it is killed: it is part of the flow by then. */
const VICTIM_SENT_BEFORE_KILL = 6;
/** From a trigger's stream timestamp to its delivery: the delay, one ack wait, one lease, and slack for 2 loaded cores. */
const MAX_DELIVERY_MS = DELAY_MS + ACK_WAIT_MS + LEASE_MS + 10_000;

interface Trigger {
  session: string;
  user: string;
  kind: "turn.end" | "operator.message";
  seq: number;
  /** The notification id it must yield: `n.<epoch>.<session>.<seq>.<user>`. */
  id: string;
}

test("SIGKILL of a notifier replica under a stream of triggers: each yields exactly one notification", async ({
  onTestFailed,
}) => {
  const stack = chaosStack();
  const rig = await notifierRig({
    nats: {
      url: stack.cluster.urls.join(","),
      auth: stack.gatewayUser,
      agent: await stack.agent(1),
      notifierEnv: stack.notifierEnv,
    },
  });
  const env = {
    THREADLINE_NOTIFY_DELAY_MS: String(DELAY_MS),
    THREADLINE_NOTIFY_ACK_WAIT_MS: String(ACK_WAIT_MS),
    THREADLINE_NOTIFY_LEASE_MS: String(LEASE_MS),
    // The scenario is about replicas, not the per-user limit (10 notifications per user in ~9 s).
    THREADLINE_NOTIFY_USER_RATE: "1000",
    // Webhook retries outlast the receiver's outage (no dead letter).
    THREADLINE_WEBHOOK_MAX_ATTEMPTS: "50",
  };
  const users = Array.from({ length: USERS }, (_, i) => `nk-user-${i}`);
  for (const user of users) await rig.subscribe(user);
  const replicas = [
    await spawnNotifier(rig, { ...env, THREADLINE_NOTIFIER_ID: "notifier-a" }),
    await spawnNotifier(rig, { ...env, THREADLINE_NOTIFIER_ID: "notifier-b" }),
  ] as const;
  const [victim, survivor] = replicas;
  onTestFailed(() => console.error(replicas.map((r, i) => `--- notifier ${"ab"[i]} ---\n${r.log()}`).join("\n")));

  const triggers: Trigger[] = [];
  const produce = async () => {
    for (let i = 0; i < TRIGGERS; i++) {
      const session = `nk-${i}`;
      const user = users[i % USERS] as string;
      await rig.userWrites(session, user);
      const kind = i % 3 === 2 ? "operator.message" : "turn.end";
      const seq =
        kind === "turn.end"
          ? (await rig.turnEnd(session, `answer ${i}`)).seq
          : await rig.operatorWrites(session, "support-1", `message ${i}`);
      triggers.push({ session, user, kind, seq, id: `n.${rig.epoch}.${session}.${seq}.${user}` });
      await sleep(PACE_MS); // the stream's pace, not a wait for anything
    }
  };
  const producing = produce();

  // Once the victim takes part in the flow, the webhook receiver fails every request: a replica
  // handling a due trigger now holds its hook claim while it retries. Kill the victim holding one.
  const victimSent = await waitFor(
    async () => {
      const sent = await victim.metric("threadline_notifier_sent_total");
      return sent >= VICTIM_SENT_BEFORE_KILL && sent;
    },
    { timeoutMs: 20_000, message: "the victim replica never delivered" },
  );
  rig.hooks.failNext(Number.MAX_SAFE_INTEGER, 503);
  const heldByVictim = await waitFor(
    async () => {
      for (const t of triggers.slice(-12)) {
        const claim = await rig.claim(`${t.id}.hook`);
        if (claim?.status === "claimed" && claim.owner === "notifier-a") return t.id;
      }
      return undefined;
    },
    { timeoutMs: 10_000, message: "the victim never held a webhook claim" },
  );
  const triggersBeforeKill = triggers.length;
  await victim.kill();
  rig.hooks.failNext(0); // the receiver is back
  await producing;
  expect(triggersBeforeKill, "the kill landed in the middle of the stream").toBeLessThan(TRIGGERS / 2);

  const expected = new Set(triggers.map((t) => t.id));
  const pushedIds = () => new Set(rig.push.received().map((d) => (d.json as NotificationPayload).id));
  const hookedIds = () => new Set(rig.hooks.received().map((d) => (d.body as NotificationPayload).id));
  const missing = () => [...expected].filter((id) => !pushedIds().has(id) || !hookedIds().has(id));
  let missingClaims = "";
  await waitFor(
    async () => {
      const left = missing();
      const claims = await Promise.all(
        left.slice(0, 5).map(async (id) => ({
          id,
          push: pushedIds().has(id) || (await rig.claim(`${id}.push`)),
          hook: hookedIds().has(id) || (await rig.claim(`${id}.hook`)),
        })),
      );
      const noAudience = await survivor.metric("threadline_notifier_skipped_total", { reason: "no_audience" });
      missingClaims = `${JSON.stringify(claims)}; the survivor skipped ${noAudience} for no_audience`;
      return left.length === 0;
    },
    {
      timeoutMs: 30_000,
      message: () =>
        `${missing().length} triggers without a notification on both channels (true: received): ${missingClaims}`,
    },
  );
  // Both durables have nothing pending or unacknowledged: no handling is left that could still send.
  await rig.settled();

  const pushes = rig.push
    .received()
    .map((d) => ({ payload: d.json as NotificationPayload, at: d.receivedAt.getTime() }));
  const hooks = rig.hooks.received();
  // Exactly the triggers' notifications, each standing for its one trigger, decided once for both channels.
  expect(pushedIds()).toEqual(expected);
  expect(new Set(hooks.map((h) => h.idempotencyKey))).toEqual(new Set([...expected].map((id) => `${id}.hook`)));
  for (const t of triggers) {
    const payload = pushes.find((p) => p.payload.id === t.id)?.payload;
    expect(payload).toMatchObject({
      kind: t.kind,
      session: t.session,
      user: t.user,
      count: 1,
      position: { seq: t.seq },
    });
    for (const hook of hooks.filter((h) => h.idempotencyKey === `${t.id}.hook`)) expect(hook.body).toEqual(payload);
  }
  // A repeat on the wire is allowed only where the README says: a claim the victim held when it died
  // (sent, not yet completed), taken over by the survivor and sent again under the same id and key.
  const repeats = [
    ...[...expected]
      .filter((id) => pushes.filter((p) => p.payload.id === id).length > 1)
      .map((id) => ({ id, channel: "push" })),
    ...hooks.filter((h) => h.duplicate).map((h) => ({ id: (h.body as NotificationPayload).id, channel: "hook" })),
  ];
  let unexplained = 0;
  for (const { id, channel } of repeats) {
    const claim = await rig.claim(`${id}.${channel}`);
    if (!(claim?.status === "sent" && claim.attempts >= 2)) unexplained++;
  }
  // The claim the victim died holding could only be completed by a takeover after its lease.
  expect(await rig.claim(`${heldByVictim}.hook`)).toMatchObject({ status: "sent", attempts: 2, owner: "notifier-b" });
  let takenOver = 0;
  for (const id of expected) {
    for (const channel of ["push", "hook"]) if (((await rig.claim(`${id}.${channel}`))?.attempts ?? 0) > 1) takenOver++;
  }
  const firstDelivery = triggers.map((t) =>
    Math.min(...pushes.filter((p) => p.payload.id === t.id).map((p) => p.at - p.payload.ts)),
  );
  const maxDeliveryMs = Math.max(...firstDelivery);
  const survivorSent = await survivor.metric("threadline_notifier_sent_total");
  // Every trigger has an away user with a subscription: nothing may be skipped (no_audience, present, …).
  const skipped = await survivor.metric("threadline_notifier_skipped_total");
  const lost = [...expected].filter((id) => !pushedIds().has(id) || !hookedIds().has(id)).length;
  console.log(
    `[chaos] notifier-replica-kill: published=${TRIGGERS} acked=${triggers.length} delivered=${pushedIds().size} ` +
      `lost=${lost} duplicated=${unexplained} | recovery maxDeliveryMs=${maxDeliveryMs} | replicas=2 killed=1 ` +
      `triggersBeforeKill=${triggersBeforeKill} victimSent=${victimSent} survivorSent=${survivorSent} ` +
      `claimsTakenOver=${takenOver} resentAfterTakeover=${repeats.length - unexplained} skipped=${skipped}`,
  );
  expect(unexplained).toBe(0);
  expect(skipped).toBe(0);
  expect(survivorSent).toBeGreaterThan(0);
  expect(maxDeliveryMs).toBeLessThan(MAX_DELIVERY_MS);
}, 60_000);
