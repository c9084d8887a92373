import { jetstream } from "@nats-io/jetstream";
import {
  type AttachedFrame,
  dedupeKey,
  type ErrorFrame,
  encodeMsgpack,
  type PublishedFrame,
  type ServerFrame,
} from "@threadline/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawSocket } from "./support/raw-socket.ts";
import { type Stack, startStack } from "./support/stack.ts";

// Regression (issue 13 §1): dedupe was stream-wide, so user B publishing an id already used in
// A's session got `published {seq: <A's seq>, duplicate: true}` and B's event was never stored.

let stack: Stack;
let counter = 0;
const name = (label: string) => `${label}-${process.pid}-${++counter}`;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
});

async function socket(sub: string, device = `${sub}-tab`): Promise<RawSocket> {
  return RawSocket.connect(stack.gateway.url, await stack.token({ sub }), { device });
}

function publish(s: RawSocket, session: string, id: string, text: string): Promise<ServerFrame> {
  return s.request({ op: "publish", session, event: { id, type: "input", data: { text } } });
}

/** Every event the gateway replays for `session` from the start (ids and seqs, as a fresh reader sees them). */
async function replay(session: string): Promise<{ seq: number; id: string; from: string; text: string }[]> {
  const reader = await socket("reader");
  await reader.request<AttachedFrame>({ op: "attach", session, from: "start", history: "full" });
  await reader.next((f) => f.op === "synced" && f.session === session);
  const events = reader.events(session).map((e) => ({
    seq: e.seq,
    id: e.event.id,
    from: e.event.from.id,
    text: (e.event.data as { text: string }).text,
  }));
  await reader.close();
  return events;
}

describe("publish dedupe is per session", () => {
  it("two users publish the same id in their own sessions: both stored, each `published` names its own seq", async () => {
    const [a1, b1, id] = [name("a1"), name("b1"), name("shared")];
    const alice = await socket("alice");
    const bob = await socket("bob");
    const toA = await publish(alice, a1, id, "from alice");
    const toB = await publish(bob, b1, id, "from bob");
    expect(toA).toMatchObject({ op: "published", session: a1, id, duplicate: false });
    expect(toB).toMatchObject({ op: "published", session: b1, id, duplicate: false });
    const seqA = (toA as PublishedFrame).seq;
    const seqB = (toB as PublishedFrame).seq;
    expect(seqB).not.toBe(seqA);
    expect(await replay(a1)).toEqual([{ seq: seqA, id, from: "alice", text: "from alice" }]);
    expect(await replay(b1)).toEqual([{ seq: seqB, id, from: "bob", text: "from bob" }]);
    await Promise.all([alice.close(), bob.close()]);
  });

  it("a retry in the same session (even from another socket of the user) is still deduplicated", async () => {
    const [s1, id] = [name("retry"), name("evt")];
    const first = await socket("carol", "laptop");
    const again = await socket("carol", "phone");
    const stored = (await publish(first, s1, id, "once")) as PublishedFrame;
    expect(stored).toMatchObject({ op: "published", duplicate: false });
    expect(await publish(first, s1, id, "once")).toMatchObject({ op: "published", duplicate: true, seq: stored.seq });
    expect(await publish(again, s1, id, "once")).toMatchObject({ op: "published", duplicate: true, seq: stored.seq });
    expect((await replay(s1)).map((e) => e.seq)).toEqual([stored.seq]);
    await Promise.all([first.close(), again.close()]);
  });

  it("another author's id in the same session is EVENT_ID_CONFLICT, not a `published` about their event", async () => {
    const [s1, id] = [name("shared-session"), name("taken")];
    const alice = await socket("alice");
    const bob = await socket("bob");
    const stored = (await publish(alice, s1, id, "alice's")) as PublishedFrame;
    expect(stored.op).toBe("published");
    const refused = (await publish(bob, s1, id, "bob's")) as ErrorFrame;
    expect(refused).toMatchObject({ op: "error", session: s1, code: "EVENT_ID_CONFLICT", retryable: false });
    expect(refused).not.toHaveProperty("seq");
    expect(refused.message).not.toMatch(/seq/);
    expect(await replay(s1)).toEqual([{ seq: stored.seq, id, from: "alice", text: "alice's" }]);
    await Promise.all([alice.close(), bob.close()]);
  });

  it("a foreign message holding the session's dedupe key is checked, not trusted: EVENT_ID_CONFLICT naming nothing of it", async () => {
    const [victim, other, id] = [name("victim"), name("other"), name("squat")];
    // A misbehaving publisher stores an event of session `other` under the dedupe key of `victim`.
    const squat = await jetstream(stack.nc).publish(
      `tl.${other}.out.agent.test-agent`,
      encodeMsgpack({ id, type: "note", from: { kind: "agent", id: "test-agent" }, ts: Date.now() }),
      { msgID: dedupeKey(victim, id) },
    );
    const bob = await socket("bob");
    const refused = (await publish(bob, victim, id, "bob's")) as ErrorFrame;
    expect(refused).toMatchObject({ op: "error", session: victim, code: "EVENT_ID_CONFLICT", retryable: false });
    expect(refused.message).not.toContain(other);
    expect(refused.message).not.toMatch(/seq|tl\./);
    expect(squat.seq).toBeGreaterThan(0);
    expect(await replay(victim)).toEqual([]);
    // With a fresh id the event is stored.
    expect(await publish(bob, victim, name("fresh"), "bob's")).toMatchObject({ op: "published", duplicate: false });
    await bob.close();
  });
});
