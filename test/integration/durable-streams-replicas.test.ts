import { jetstream } from "@nats-io/jetstream";
import { encodeMsgpack } from "@threadline/protocol";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type Stack, startStack } from "./support/stack.ts";

/** Data streams written through two gateway replicas at once, and after a writer died mid-write (PROTOCOL.md §21.3). */
let a: Stack;
let b: Stack;
let auth: string;

beforeAll(async () => {
  const limits = { THREADLINE_DS_WRITES_PER_SECOND: "1000", THREADLINE_DS_WRITE_BURST: "1000" };
  a = await startStack({ gatewayEnv: limits });
  b = await startStack({ nats: a.nats, gatewayEnv: limits });
  auth = `Bearer ${await a.token({ sub: "writer", role: "operator" })}`;
});
afterAll(async () => {
  await b?.[Symbol.asyncDispose]();
  await a?.[Symbol.asyncDispose]();
});

const url = (stack: Stack, id: string) => `http://127.0.0.1:${stack.gateway.port}/v1/stream/${id}`;

function post(stack: Stack, id: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url(stack, id), {
    method: "POST",
    headers: { Authorization: auth, "Content-Type": "application/json", ...headers },
    body,
  });
}

test("concurrent appends through two gateways are all stored once, and both gateways agree on the tail", async () => {
  await fetch(url(a, "ds-two"), {
    method: "PUT",
    headers: { Authorization: auth, "Content-Type": "application/json" },
  });
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, n) => post(n % 2 === 0 ? a : b, "ds-two", JSON.stringify({ n }))),
  );
  expect(results.map((r) => r.status)).toEqual(Array(20).fill(204));
  const read = await fetch(url(b, "ds-two?offset=-1"), { headers: { Authorization: auth } });
  const messages = (await read.json()) as { n: number }[];
  expect(messages.map((m) => m.n).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, n) => n));
  const tails = await Promise.all(
    [a, b].map(async (s) =>
      (await fetch(url(s, "ds-two"), { method: "HEAD", headers: { Authorization: auth } })).headers.get(
        "Stream-Next-Offset",
      ),
    ),
  );
  expect(tails[0]).toBe(read.headers.get("Stream-Next-Offset"));
  expect(tails[1]).toBe(tails[0]);
});

test("an idempotent producer moving between gateways: every seq once, a retry on the other replica is a duplicate", async () => {
  await fetch(url(a, "ds-producer"), {
    method: "PUT",
    headers: { Authorization: auth, "Content-Type": "application/json" },
  });
  const producer = (seq: number) => ({ "Producer-Id": "p1", "Producer-Epoch": "0", "Producer-Seq": String(seq) });
  for (let seq = 0; seq < 6; seq++) {
    const res = await post(seq % 2 === 0 ? a : b, "ds-producer", JSON.stringify({ seq }), producer(seq));
    expect(res.status).toBe(200);
  }
  const retry = await post(a, "ds-producer", JSON.stringify({ seq: 5 }), producer(5));
  expect(retry.status).toBe(204);
  expect(retry.headers.get("Producer-Seq")).toBe("5");
  const gap = await post(b, "ds-producer", JSON.stringify({ seq: 9 }), producer(9));
  expect(gap.status).toBe(409);
  expect(gap.headers.get("Producer-Expected-Seq")).toBe("6");
  const read = await fetch(url(a, "ds-producer?offset=-1"), { headers: { Authorization: auth } });
  expect(((await read.json()) as { seq: number }[]).map((m) => m.seq)).toEqual([0, 1, 2, 3, 4, 5]);
});

// Regression: a writer that stored its event and died before updating the record must not block the stream.
test("an append stored by a writer that died before updating the record is folded in by the next writer", async () => {
  await fetch(url(a, "ds-orphan"), {
    method: "PUT",
    headers: { Authorization: auth, "Content-Type": "application/json" },
  });
  await post(a, "ds-orphan", JSON.stringify({ n: 1 }));
  // What a gateway stores before it updates the record: the event on the data subject, nothing else.
  const orphan = {
    id: "orphan-1",
    type: "stream.append",
    from: { kind: "system", id: "streams" },
    ts: Date.now(),
    data: { json: [{ n: 2 }], by: { kind: "operator", id: "writer" }, close: true },
  };
  await jetstream(a.nc).publish("tl.ds-orphan.data.system.streams", encodeMsgpack(orphan));
  // The next writer finds the subject ahead of the record, folds the orphan (which closed the stream) and
  // answers as the stream now is: closed.
  const next = await post(b, "ds-orphan", JSON.stringify({ n: 3 }));
  expect(next.status).toBe(409);
  expect(next.headers.get("Stream-Closed")).toBe("true");
  const head = await fetch(url(a, "ds-orphan"), { method: "HEAD", headers: { Authorization: auth } });
  expect(head.headers.get("Stream-Closed")).toBe("true");
  const read = await fetch(url(a, "ds-orphan?offset=-1"), { headers: { Authorization: auth } });
  expect(await read.json()).toEqual([{ n: 1 }, { n: 2 }]);
  expect(read.headers.get("Stream-Next-Offset")).toBe(head.headers.get("Stream-Next-Offset"));
});
