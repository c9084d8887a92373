import { startMessage } from "@threadline/agent";
import { createClient, type SessionHandle } from "@threadline/client";
import {
  type AttachHistory,
  applyMessageEvent,
  emptyMessageState,
  type MessageState,
  type SessionEvent,
} from "@threadline/protocol";
import { waitFor } from "@threadline/test-kit";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { controlledWebSocket } from "./support/controlled-websocket.ts";
import { RawSocket } from "./support/raw-socket.ts";
import { type Stack, startStack } from "./support/stack.ts";

// Property (issue 5): random delta sequences × random disconnect points × compact/full catch-up →
// the client's materialized messages equal the ones built from the full stream.

let stack: Stack;
beforeAll(async () => {
  // A small ring makes catch-ups read the stream (history path) as well as the gateway's memory.
  stack = await startStack({ gatewayEnv: { THREADLINE_RING_EVENTS: "16" } });
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
});

async function fullView(session: string): Promise<{ state: MessageState; lastSeq: number }> {
  let state = emptyMessageState();
  let lastSeq = 0;
  for await (const r of stack.agent.history(session)) {
    state = applyMessageEvent(state, r);
    lastSeq = r.seq;
  }
  return { state, lastSeq };
}

type Step =
  | { k: "start"; m: number }
  | { k: "append"; m: number; text: string; open: boolean }
  | { k: "end"; m: number; status: "complete" | "cancelled" | "interrupted" | "error" }
  | { k: "tool"; m: number }
  | { k: "other" }
  | { k: "bad"; m: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      k: fc.constant("append" as const),
      m: fc.nat(2),
      text: fc.string({ minLength: 1, maxLength: 8 }),
      open: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("start" as const), m: fc.nat(2) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("end" as const),
      m: fc.nat(2),
      status: fc.constantFrom("complete" as const, "cancelled" as const, "interrupted" as const, "error" as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("tool" as const), m: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("other" as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("bad" as const), m: fc.nat(2) }) },
);

/** Publishes the steps as an agent would (several messages interleaved, progress events, some bad input). */
async function publishSteps(session: string, steps: Step[], msgs: { id: string; parts: number }[]): Promise<void> {
  for (const step of steps) {
    if (step.k === "other") {
      await stack.agent.publish(session, { type: "progress", turn: "t", data: { step: "s", status: "running" } });
      continue;
    }
    const msg = msgs[step.m]!;
    if (step.k === "start") {
      msg.id = `${session}-m${step.m}-${Math.random().toString(36).slice(2, 8)}`;
      msg.parts = 0;
      await stack.agent.publish(session, {
        type: "message.start",
        ref: msg.id,
        turn: "t",
        data: { id: msg.id, role: "assistant" },
      });
    } else if (step.k === "append") {
      const open = step.open || msg.parts === 0;
      const part = open ? msg.parts++ : msg.parts - 1;
      await stack.agent.publish(session, { type: "message.append", ref: msg.id, data: { part, delta: step.text } });
    } else if (step.k === "tool") {
      const value = { type: "tool-lookup", toolCallId: `c${msg.parts}`, state: "input-available", input: {} };
      await stack.agent.publish(session, { type: "message.part", ref: msg.id, data: { part: msg.parts++, value } });
    } else if (step.k === "end") {
      await stack.agent.publish(session, { type: "message.end", ref: msg.id, data: { status: step.status } });
    } else {
      await stack.agent.publish(session, { type: "message.append", ref: msg.id, data: { part: 50, delta: "gap" } });
    }
  }
}

let runs = 0;

describe("streaming catch-up", () => {
  it("property: compact and full catch-up with random disconnects give the full stream's messages", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArb, { minLength: 10, maxLength: 80 }),
        fc.array(stepArb, { maxLength: 30 }),
        fc.constantFrom<AttachHistory>("compact", "full"),
        fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 3 }),
        async (before, live, history, drops) => {
          const session = `stream-prop-${process.pid}-${++runs}`;
          const msgs = [0, 1, 2].map((m) => ({ id: `${session}-m${m}-0`, parts: 0 }));
          // Every message starts once up front so that most steps apply.
          await publishSteps(
            session,
            [0, 1, 2].map((m) => ({ k: "start" as const, m })),
            msgs,
          );
          await publishSteps(session, before, msgs);
          const net = controlledWebSocket();
          const client = createClient({
            url: stack.gateway.url,
            token: () => stack.token({ sub: "prop" }),
            WebSocket: net.WebSocket as never,
            reconnect: { initialDelayMs: 5, maxDelayMs: 50 },
          });
          try {
            const handle: SessionHandle = await client.attach(session, { from: "start", history });
            let applied = 0;
            handle.onEvent(() => {
              if (drops.includes(++applied)) net.drop();
            });
            await publishSteps(session, live, msgs);
            const { state, lastSeq } = await fullView(session);
            await waitFor(() => (handle.position?.seq ?? 0) >= lastSeq, {
              timeoutMs: 20_000,
              message: `client at ${handle.position?.seq}, stream at ${lastSeq}`,
            });
            if (drops.some((d) => d <= applied)) {
              // A planned disconnect happened: the client reconnects and resumes; the view must not change.
              await waitFor(() => net.opened > 1 && handle.synced, { timeoutMs: 20_000 });
            }
            expect(handle.messages.messages).toEqual(state.messages);
            if (history === "full") expect(handle.messages.rejected).toEqual(state.rejected);
          } finally {
            await client.close();
          }
        },
      ),
      { numRuns: 12 },
    );
  }, 120_000);

  it("attach.history is validated; a JSON client gets the snapshot too", async () => {
    const session = `stream-json-${process.pid}`;
    const writer = startMessage(stack.agent, session, { flushMs: 0 });
    for (let i = 0; i < 20; i++) await writer.append(`t${i} `);
    await writer.end();
    const raw = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "json" }), { encoding: "json" });
    try {
      expect(await raw.request({ op: "attach", session, from: "start", history: "partial" })).toMatchObject({
        op: "error",
        code: "INVALID_FRAME",
      });
      expect(await raw.request({ op: "attach", session, from: "start", history: "compact" })).toMatchObject({
        op: "attached",
      });
      const frame = (await raw.next((f) => f.op === "event")) as unknown as { seq: number; event: SessionEvent };
      const text = Array.from({ length: 20 }, (_, i) => `t${i} `).join("");
      expect(frame.event).toMatchObject({
        type: "message.snapshot",
        ref: writer.id,
        data: { id: writer.id, status: "complete", parts: [{ type: "text", text, state: "done" }] },
      });
      expect(await raw.next((f) => f.op === "synced")).toMatchObject({ seq: frame.seq });
    } finally {
      await raw.close();
    }
  });

  it("compact catch-up sends a completed reply as one snapshot; bad input is counted, the view intact", async () => {
    const session = `stream-compact-${process.pid}`;
    const writer = startMessage(stack.agent, session, { turn: "t1", flushMs: 0 });
    for (let i = 0; i < 200; i++) await writer.append(`token${i} `);
    await writer.end();
    // Bad input after the end: an append to the ended message and one to an unknown message.
    await stack.agent.publish(session, { type: "message.append", ref: writer.id, data: { part: 0, delta: "late" } });
    await stack.agent.publish(session, { type: "message.append", ref: "ghost", data: { part: 0, delta: "boo" } });
    const inFlight = startMessage(stack.agent, session, { turn: "t2", flushMs: 0 });
    await inFlight.append("streaming ");
    const { lastSeq } = await fullView(session);

    const attach = async (history: AttachHistory) => {
      const client = createClient({
        url: stack.gateway.url,
        token: () => stack.token({ sub: `u-${history}` }),
        WebSocket: WebSocket as never,
      });
      const handle = await client.attach(session, { from: "start", history });
      const types: string[] = [];
      handle.onEvent((r) => types.push(r.event.type));
      await waitFor(() => (handle.position?.seq ?? 0) >= lastSeq);
      return { client, handle, types };
    };
    const compact = await attach("compact");
    const full = await attach("full");
    try {
      expect(compact.types).toEqual(["message.snapshot", "message.append", "message.append", "message.snapshot"]);
      expect(full.types.length).toBe(206);
      expect(compact.handle.messages.messages).toEqual(full.handle.messages.messages);
      const [reply, streaming] = compact.handle.messages.messages;
      expect(reply).toMatchObject({ id: writer.id, status: "complete", turn: "t1" });
      expect((reply!.parts[0] as { text: string }).text).toBe(
        Array.from({ length: 200 }, (_, i) => `token${i} `).join(""),
      );
      expect(streaming).toMatchObject({ id: inFlight.id, status: "streaming" });
      expect(compact.handle.messages.rejected).toMatchObject({ message_ended: 1, unknown_message: 1 });
      // The in-flight message continues with live deltas on both.
      await inFlight.append("more");
      await inFlight.end("cancelled");
      for (const c of [compact, full]) {
        await waitFor(() => c.handle.messages.get(inFlight.id)?.status === "cancelled");
        expect(c.handle.messages.get(inFlight.id)!.parts).toEqual([
          { type: "text", text: "streaming more", state: "done" },
        ]);
      }
    } finally {
      await compact.client.close();
      await full.client.close();
    }
  });
});
