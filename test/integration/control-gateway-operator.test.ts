import { type ErrorFrame, newId, type PublishedFrame } from "@threadline/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ControlKv, storedEvents } from "./support/control-kv.ts";
import { RawSocket } from "./support/raw-socket.ts";
import { type Stack, startStack } from "./support/stack.ts";

let stack: Stack;
let kv: ControlKv;
let counter = 0;
const session = () => `ctl-op-${process.pid}-${++counter}`;

beforeAll(async () => {
  stack = await startStack();
  kv = await ControlKv.open(stack.nc);
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
});

async function operator(grants: { session: string; can: ("read" | "write" | "control")[] }[]): Promise<RawSocket> {
  const token = await stack.token({ sub: "olivia", role: "operator", grants });
  return RawSocket.connect(stack.gateway.url, token, { device: "desk-1" });
}

describe("operators and handoff", () => {
  it("an operator attaches to granted sessions only, sees the full history and writes input as operator", async () => {
    const id = session();
    const other = session();
    const user = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "alice" }), { device: "phone" });
    await user.request({ op: "publish", session: id, event: { type: "input", data: { text: "help" } } });
    await stack.agent.publish(id, { type: "note", data: { text: "agent reply" } });
    const op = await operator([{ session: id, can: ["read", "write", "control"] }]);
    expect(op.frames[0]).toMatchObject({ op: "welcome", kind: "operator", user: "olivia" });
    expect(await op.request({ op: "attach", session: other })).toMatchObject({ code: "FORBIDDEN", session: other });
    expect(await op.request({ op: "attach", session: id, from: "start" })).toMatchObject({ op: "attached" });
    await op.waitEvents(id, 2);
    expect(op.events(id).map((e) => [e.event.type, e.event.from.kind])).toEqual([
      ["input", "user"],
      ["note", "agent"],
    ]);
    const reply = await op.request<PublishedFrame>({
      op: "publish",
      session: id,
      event: { type: "input", data: { text: "I'm here" } },
    });
    expect(reply).toMatchObject({ op: "published" });
    const seen = await user
      .request({ op: "attach", session: id, from: "start" })
      .then(() => user.next((f) => f.op === "event" && f.seq === reply.seq));
    expect(seen).toMatchObject({
      event: { type: "input", from: { kind: "operator", id: "olivia", device: "desk-1" } },
    });
    expect(
      await op.request({ op: "publish", session: other, event: { type: "input", data: { text: "x" } } }),
    ).toMatchObject({ code: "FORBIDDEN" });
    await Promise.all([user.close(), op.close()]);
  });

  it("handoff: a user requests; the operator's take and release write the owner key, then the events", async () => {
    const id = session();
    const user = await RawSocket.connect(stack.gateway.url, await stack.token({ sub: "alice" }), { device: "phone" });
    const op = await operator([{ session: "ctl-op-*", can: ["read", "write", "control"] }]);
    await user.request({ op: "attach", session: id, from: "start" });

    expect(
      await user.request({ op: "publish", session: id, event: { type: "handoff", data: { action: "request" } } }),
    ).toMatchObject({ op: "published" });
    expect(await kv.owner(id)).toBeUndefined();
    expect(
      await user.request<ErrorFrame>({
        op: "publish",
        session: id,
        event: { type: "handoff", data: { action: "take" } },
      }),
    ).toMatchObject({ code: "FORBIDDEN" });

    const take = await op.request<PublishedFrame>({
      op: "publish",
      session: id,
      event: { id: newId(), type: "handoff", data: { action: "take", reason: "billing question" } },
    });
    expect(take).toMatchObject({ op: "published" });
    expect(await kv.owner(id)).toMatchObject({
      owner: { kind: "operator", id: "olivia" },
      by: { kind: "operator", id: "olivia", device: "desk-1" },
      reason: "billing question",
    });
    const seenTake = await user.next((f) => f.op === "event" && f.seq === take.seq);
    expect(seenTake).toMatchObject({
      event: { type: "handoff", data: { action: "take" }, from: { kind: "operator" } },
    });

    const release = await op.request<PublishedFrame>({
      op: "publish",
      session: id,
      event: { type: "handoff", data: { action: "release" } },
    });
    expect(release).toMatchObject({ op: "published" });
    expect(await kv.owner(id)).toMatchObject({ owner: null, by: { id: "olivia" } });
    expect((await storedEvents(stack.agent, id)).map((e) => [e.type, (e.data as { action: string }).action])).toEqual([
      ["handoff", "request"],
      ["handoff", "take"],
      ["handoff", "release"],
    ]);
    await Promise.all([user.close(), op.close()]);
  });
});
