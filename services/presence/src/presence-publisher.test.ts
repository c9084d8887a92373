import type { JetStreamClient } from "@nats-io/jetstream";
import { encodeMsgpack, presenceEventId, Subjects } from "@threadline/protocol";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createPresenceMetrics } from "./metrics.ts";
import { createPresencePublisher } from "./presence-publisher.ts";

// Unit test of the duplicate-ack check with a scripted JetStream client: the stream answers
// `duplicate` for the transition's dedupe key; what is stored at that seq decides.
const subjects = new Subjects();
const REVISION = 42;
const transition = { type: "presence.join", session: "s1", data: { kind: "user", id: "u1" } } as never;
const eventId = presenceEventId(REVISION, "presence.join");

async function publishAnswering(stored: { subject: string; data: Uint8Array }) {
  const metrics = createPresenceMetrics();
  const js = { publish: async () => ({ seq: 7, duplicate: true, stream: "THREADLINE" }) } as unknown as JetStreamClient;
  const publisher = createPresencePublisher(
    js,
    subjects,
    "THREADLINE",
    metrics,
    pino({ level: "silent" }),
    async () => stored,
  );
  await publisher.publish(transition, REVISION);
  await publisher.idle();
  return Object.fromEntries((await metrics.events.get()).values.map((v) => [`${v.labels.result}`, v.value]));
}

describe("presence publisher: duplicate acks", () => {
  it("another replica's copy of the same event counts as a duplicate", async () => {
    const subject = subjects.event("s1", "sys", "system", "presence");
    const same = encodeMsgpack({ id: eventId, type: "presence.join", from: { kind: "system", id: "presence" }, ts: 1 });
    expect(await publishAnswering({ subject, data: same })).toEqual({ duplicate: 1 });
  });

  // Regression (issue 13 follow-up): an agent holding the session's key for a presence event id made the
  // presence service count its event as stored although it never was.
  it("an event of another author under the same key is a conflict, not a stored event", async () => {
    const squatter = encodeMsgpack({ id: eventId, type: "note", from: { kind: "agent", id: "a1" }, ts: 1 });
    expect(await publishAnswering({ subject: subjects.event("s1", "out", "agent", "a1"), data: squatter })).toEqual({
      conflict: 1,
    });
  });
});
