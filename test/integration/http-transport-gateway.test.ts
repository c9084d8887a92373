import { formatOffset } from "@threadline/protocol";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type Stack, startStack } from "./support/stack.ts";

// What the client SDK's HTTP transport needs from the gateway beyond Durable Streams (PROTOCOL.md §21.10):
// `GET /v1/welcome` (its `welcome`), `Threadline-Session: 1` (a session without events reads as an empty
// session log and takes its first event by POST, where a plain Durable Streams request gets 404), and
// `Threadline-Epoch` on every answer (the epoch its offsets belong to).

let stack: Stack;
let auth: string;
/** The stream epoch, as the messages of a session log carry it. */
let streamEpoch: string;

beforeAll(async () => {
  stack = await startStack({ gatewayEnv: { THREADLINE_ALLOWED_ORIGINS: "https://app.example.com" } });
  auth = `Bearer ${await stack.token({ role: "user" })}`;
  await stack.agent.publish("has-events", { type: "note", data: { n: 0 } });
  const res = await fetch(`http://127.0.0.1:${stack.gateway.port}/v1/stream/has-events`, {
    headers: { Authorization: auth },
  });
  streamEpoch = ((await res.json()) as { epoch: string }[])[0]!.epoch;
  expect(res.headers.get("threadline-epoch")).toBe(streamEpoch);
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
});

const url = (path: string) => `http://127.0.0.1:${stack.gateway.port}/v1/stream/${path}`;
const epoch = () => streamEpoch;

test("without the header a session with no events is 404 (the Durable Streams answer)", async () => {
  const res = await fetch(url("empty-plain"), { headers: { Authorization: auth } });
  expect(res.status).toBe(404);
  expect(res.headers.get("threadline-epoch")).toBe(epoch());
});

test("with the header it reads as an empty session log at offset 0 of the current epoch", async () => {
  const res = await fetch(url("empty-flagged?offset=-1"), {
    headers: { Authorization: auth, "Threadline-Session": "1" },
  });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual([]);
  expect(res.headers.get("stream-next-offset")).toBe(formatOffset(epoch(), 0));
  expect(res.headers.get("stream-up-to-date")).toBe("true");
  expect(res.headers.get("threadline-epoch")).toBe(epoch());
});

test("a POST with the header stores a session's first event", async () => {
  const res = await fetch(url("first-post"), {
    method: "POST",
    headers: { Authorization: auth, "Content-Type": "application/json", "Threadline-Session": "1" },
    body: JSON.stringify({ id: "first-post-1", type: "input", data: { text: "hello" } }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { id: string; seq: number; epoch: string; duplicate: boolean };
  expect(body).toMatchObject({ id: "first-post-1", epoch: epoch(), duplicate: false });
  const stored: string[] = [];
  for await (const record of stack.agent.history("first-post")) stored.push(record.event.id);
  expect(stored).toEqual(["first-post-1"]);
});

test("an SSE read with the header on an empty session stays open and delivers the first event live", async () => {
  const res = await fetch(url("empty-live?offset=-1&live=sse"), {
    headers: { Authorization: auth, "Threadline-Session": "1" },
  });
  expect(res.status).toBe(200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const readUntil = async (needle: string) => {
    while (!text.includes(needle)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the SSE response ended before ${needle}: ${text}`);
      text += value;
    }
  };
  // The first control says "up to date at offset 0": the read is live, waiting on the session's feed.
  await readUntil(`"upToDate":true`);
  expect(text).toContain(formatOffset(epoch(), 0));
  const { seq } = await stack.agent.publish("empty-live", { type: "note", data: { n: 1 } });
  await readUntil(formatOffset(epoch(), seq));
  expect(text).toMatch(/event: data\ndata:\[\{"epoch":"[^"]+","seq":\d+,"event":\{[^\n]*"type":"note"/);
  await reader.cancel();
});

test("GET /v1/welcome answers the welcome of the token: user, kind and the gateway's limits", async () => {
  const operator = await stack.token({ sub: "olga", role: "operator" });
  const res = await fetch(`http://127.0.0.1:${stack.gateway.port}/v1/welcome`, {
    headers: { Authorization: `Bearer ${operator}`, Origin: "https://app.example.com" },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
  const body = (await res.json()) as { op: string; user: string; kind: string; limits: { maxEventBytes: number } };
  expect(body).toMatchObject({ op: "welcome", version: 1, user: "olga", kind: "operator" });
  expect(body.limits.maxEventBytes).toBeGreaterThan(0);
});

test.each([
  ["no token", undefined, "AUTH_FAILED"],
  ["a bad token", "Bearer nope", "AUTH_FAILED"],
])("GET /v1/welcome with %s: 401", async (_, authorization, code) => {
  const res = await fetch(`http://127.0.0.1:${stack.gateway.port}/v1/welcome`, {
    headers: authorization ? { Authorization: authorization } : {},
  });
  expect(res.status).toBe(401);
  expect(await res.json()).toMatchObject({ code });
});

test("a preflight allows Threadline-Session and answers expose Threadline-Epoch to pages", async () => {
  const preflight = await fetch(url("any"), {
    method: "OPTIONS",
    headers: {
      Origin: "https://app.example.com",
      "Access-Control-Request-Method": "GET",
      "Access-Control-Request-Headers": "authorization, threadline-session",
    },
  });
  expect(preflight.status).toBe(204);
  expect(preflight.headers.get("access-control-allow-headers")).toContain("Threadline-Session");
  const res = await fetch(url("has-events"), { headers: { Authorization: auth, Origin: "https://app.example.com" } });
  expect(res.headers.get("access-control-expose-headers")).toContain("Threadline-Epoch");
});

test("GET /v1/sessions/<id>/state/<seq> answers the shared state as of that seq, like the `state` frame", async () => {
  const session = "state-at";
  const set = (n: number) =>
    stack.agent.publish(
      session,
      { type: "state", data: { op: "set", object: "agent-x", path: ["n"], value: n } },
      { lane: "st" },
    );
  const first = await set(1);
  const second = await set(2);
  const at = async (seq: number | string, authorization = auth) =>
    fetch(`http://127.0.0.1:${stack.gateway.port}/v1/sessions/${session}/state/${seq}`, {
      headers: { Authorization: authorization },
    });
  const res = await at(first.seq);
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({
    session,
    seq: first.seq,
    objects: { "agent-x": { value: { n: 1 }, version: first.seq } },
  });
  expect(await (await at(second.seq)).json()).toMatchObject({ objects: { "agent-x": { value: { n: 2 } } } });
  const past = await at(second.seq + 1_000_000);
  expect(past.status).toBe(400);
  expect(await past.json()).toMatchObject({ code: "INVALID_POSITION" });
  expect((await at("x")).status).toBe(400);
  const narrow = `Bearer ${await stack.token({ grants: [{ session: "other-*", can: ["read"] }] })}`;
  expect((await at(first.seq, narrow)).status).toBe(403);
});
