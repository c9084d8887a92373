import { createClient } from "@threadline/client";
import { type ErrorFrame, newId, type PublishedFrame } from "@threadline/protocol";
import { waitFor } from "@threadline/test-kit";
import { describe, expect, it, onTestFinished } from "vitest";
import WebSocket from "ws";
import { useControlGateway } from "./support/control-gateway.ts";
import { storedEvents } from "./support/control-kv.ts";
import { RawSocket } from "./support/raw-socket.ts";

const fx = useControlGateway("ctl-op");
const session = fx.session;

async function operator(grants: { session: string; can: ("read" | "write" | "control")[] }[]): Promise<RawSocket> {
  const token = await fx.stack.token({ sub: "olivia", role: "operator", grants });
  return RawSocket.connect(fx.stack.gateway.url, token, { device: "desk-1" });
}

/** `GET /v1/sessions/:id/control` with a bearer token. */
async function controlQuery(session: string, token: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`http://127.0.0.1:${fx.stack.gateway.port}/v1/sessions/${session}/control`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: response.status, body: await response.json() };
}

describe("operators and handoff", () => {
  it("an operator attaches to granted sessions only, sees the full history and writes input as operator", async () => {
    const id = session();
    const other = session();
    const user = await RawSocket.connect(fx.stack.gateway.url, await fx.stack.token({ sub: "alice" }), {
      device: "phone",
    });
    await user.request({ op: "publish", session: id, event: { type: "input", data: { text: "help" } } });
    await fx.stack.agent.publish(id, { type: "note", data: { text: "agent reply" } });
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
    const user = await RawSocket.connect(fx.stack.gateway.url, await fx.stack.token({ sub: "alice" }), {
      device: "phone",
    });
    const op = await operator([{ session: "ctl-op-*", can: ["read", "write", "control"] }]);
    await user.request({ op: "attach", session: id, from: "start" });

    expect(
      await user.request({ op: "publish", session: id, event: { type: "handoff", data: { action: "request" } } }),
    ).toMatchObject({ op: "published" });
    expect(await fx.kv.owner(id)).toBeUndefined();
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
    expect(await fx.kv.owner(id)).toMatchObject({
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
    expect(await fx.kv.owner(id)).toMatchObject({ owner: null, by: { id: "olivia" } });
    expect(await controlQuery(id, await fx.stack.token({ sub: "alice" }))).toEqual({
      status: 200,
      body: {
        session: id,
        owner: expect.objectContaining({ owner: null, by: expect.objectContaining({ id: "olivia" }) }),
      },
    });
    expect(
      (await storedEvents(fx.stack.agent, id)).map((e) => [e.type, (e.data as { action: string }).action]),
    ).toEqual([
      ["handoff", "request"],
      ["handoff", "take"],
      ["handoff", "release"],
    ]);
    await Promise.all([user.close(), op.close()]);
  });

  it("the owner is readable over HTTP (read grant) and seeds a resumed client's session.control", async () => {
    const id = session();
    expect(await controlQuery(id, await fx.stack.token({ sub: "alice" }))).toEqual({
      status: 200,
      body: { session: id, owner: null },
    });
    const op = await operator([{ session: id, can: ["read", "write", "control"] }]);
    await op.request({ op: "publish", session: id, event: { type: "handoff", data: { action: "take" } } });
    const stranger = await fx.stack.token({ sub: "eve", grants: [{ session: "elsewhere", can: ["read"] }] });
    expect(await controlQuery(id, stranger)).toMatchObject({ status: 403, body: { code: "FORBIDDEN" } });
    expect(await controlQuery("bad.id", stranger)).toMatchObject({ status: 400, body: { code: "INVALID_SESSION" } });
    const client = createClient({
      url: fx.stack.gateway.url,
      token: () => fx.stack.token({ sub: "alice" }),
      WebSocket: WebSocket as never,
    });
    onTestFinished(() => client.close());
    // Attached after the take (no handoff event replayed): the snapshot tells who owns the session.
    const handle = await client.attach(id, { from: "now" });
    await waitFor(() => handle.control.owner?.id === "olivia");
    expect(handle.control.owner).toEqual({ kind: "operator", id: "olivia" });
    await op.close();
  });
});
