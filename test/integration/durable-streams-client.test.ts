import { type JsonBatch, stream } from "@durable-streams/client";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type Stack, startStack } from "./support/stack.ts";

/** A session log message as the gateway serves it in JSON mode (PROTOCOL.md §21.2). */
interface LogMessage {
  epoch: string;
  seq: number;
  event: { id: string; type: string; from: { kind: string; id: string }; data?: { n?: number } };
}

let stack: Stack;
let headers: { Authorization: string };

beforeAll(async () => {
  stack = await startStack();
  headers = { Authorization: `Bearer ${await stack.token({ role: "user" })}` };
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
});

const url = (session: string) => `http://127.0.0.1:${stack.gateway.port}/v1/stream/${session}`;

async function publish(session: string, from: number, count: number): Promise<number[]> {
  const seqs: number[] = [];
  for (let n = from; n < from + count; n++)
    seqs.push((await stack.agent.publish(session, { type: "note", data: { n } })).seq);
  return seqs;
}

/** Collects live batches until `count` messages arrived; resolves with them and the last batch's offset. */
function collect(res: Awaited<ReturnType<typeof stream<LogMessage>>>, count: number) {
  const messages: LogMessage[] = [];
  let offset = "";
  return new Promise<{ messages: LogMessage[]; offset: string }>((resolve) => {
    res.subscribeJson((batch: JsonBatch<LogMessage>) => {
      messages.push(...batch.items);
      offset = batch.offset;
      if (messages.length >= count) {
        res.cancel();
        resolve({ messages, offset });
      }
    });
  });
}

test.each(["sse", "long-poll"] as const)(
  "the official client reads a session from an offset, then live (%s): every agent event once, in order",
  async (live) => {
    const session = `ds-client-${live}`;
    const history = await publish(session, 0, 3);
    const catchUp = await stream<LogMessage>({ url: url(session), offset: "-1", live: false, headers });
    const stored = await catchUp.json();
    expect(stored.map((m) => m.seq)).toEqual(history);
    expect(stored.map((m) => m.event.data?.n)).toEqual([0, 1, 2]);
    expect(stored.every((m) => m.event.from.kind === "agent" && m.event.from.id === "test-agent")).toBe(true);
    expect(catchUp.upToDate).toBe(true);

    // From the catch-up's offset, live: events the agent publishes now arrive exactly once, in order.
    const res = await stream<LogMessage>({ url: url(session), offset: catchUp.offset, live, headers });
    const got = collect(res, 5);
    const liveSeqs = await publish(session, 3, 5);
    const { messages } = await got;
    expect(messages.map((m) => m.seq)).toEqual(liveSeqs);
    expect(messages.map((m) => m.event.data?.n)).toEqual([3, 4, 5, 6, 7]);
  },
);

test("a reader that stops resumes from its last offset with no gap and no duplicate", async () => {
  const session = "ds-client-resume";
  const first = await publish(session, 0, 4);
  const res = await stream<LogMessage>({ url: url(session), offset: "-1", live: "sse", headers });
  const { messages, offset } = await collect(res, 4);
  expect(messages.map((m) => m.seq)).toEqual(first);

  // While nobody reads, more events are stored; the reader comes back from the offset it kept.
  const missed = await publish(session, 4, 3);
  const resumed = await stream<LogMessage>({ url: url(session), offset, live: "long-poll", headers });
  const more = collect(resumed, 5);
  const later = await publish(session, 7, 2);
  expect((await more).messages.map((m) => m.seq)).toEqual([...missed, ...later]);
});

test("a client event posted over HTTP is stored through the publish checks and read back by the client", async () => {
  const session = "ds-client-post";
  await publish(session, 0, 1);
  const res = await fetch(url(session), {
    method: "POST",
    headers: { ...headers, "Content-Type": "application/json", "Threadline-Device": "tab-1" },
    body: JSON.stringify({ id: "in-1", type: "input", data: { text: "hello" } }),
  });
  expect(res.status).toBe(200);
  const published = (await res.json()) as { id: string; seq: number; duplicate: boolean };
  expect(published).toMatchObject({ id: "in-1", duplicate: false });
  // The same id again is the same event (dedupe), not a second one.
  const again = await fetch(url(session), {
    method: "POST",
    headers: { ...headers, "Content-Type": "application/json" },
    body: JSON.stringify({ id: "in-1", type: "input", data: { text: "hello" } }),
  });
  expect(await again.json()).toMatchObject({ id: "in-1", seq: published.seq, duplicate: true });
  const read = await stream<LogMessage>({ url: url(session), offset: "-1", live: false, headers });
  const events = (await read.json()).map((m) => m.event);
  expect(events.filter((e) => e.type === "input")).toEqual([
    expect.objectContaining({ id: "in-1", from: { kind: "user", id: "alice", device: "tab-1" } }),
  ]);
});
