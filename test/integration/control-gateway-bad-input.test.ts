import { type ErrorFrame, newId, type PublishedFrame } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { useControlGateway } from "./support/control-gateway.ts";
import { storedEvents } from "./support/control-kv.ts";
import { RawSocket } from "./support/raw-socket.ts";

const fx = useControlGateway("ctl-bad");
const session = fx.session;

async function socket(sub = "alice", role: "user" | "operator" = "user"): Promise<RawSocket> {
  return RawSocket.connect(fx.stack.gateway.url, await fx.stack.token({ sub, role }), { device: `${sub}-tab` });
}

function publish(
  s: RawSocket,
  sessionId: string,
  event: Record<string, unknown>,
): Promise<ErrorFrame | PublishedFrame> {
  return s.request({ op: "publish", session: sessionId, event: { id: newId(), ...event } });
}

async function refusals(type: string, code: string): Promise<number> {
  const metric = await fx.stack.gateway.metrics.registry
    .getSingleMetric("threadline_gateway_control_refusals_total")
    ?.get();
  return metric?.values.find((v) => v.labels.type === type && v.labels.code === code)?.value ?? 0;
}

describe("control events: bad input gets a typed error and stores nothing", () => {
  it("cancel / steer of an unknown turn → TURN_NOT_FOUND; of an ended turn → TURN_ENDED", async () => {
    const id = session();
    const s = await socket();
    const before = await refusals("cancel", "TURN_NOT_FOUND");
    expect(await publish(s, id, { type: "cancel", turn: "nope" })).toMatchObject({
      op: "error",
      code: "TURN_NOT_FOUND",
      session: id,
      retryable: false,
    });
    expect(await publish(s, id, { type: "steer", turn: "nope", data: { text: "x" } })).toMatchObject({
      code: "TURN_NOT_FOUND",
    });
    expect(await refusals("cancel", "TURN_NOT_FOUND")).toBe(before + 1);

    await fx.kv.putTurn(id, "done1", { status: "completed" });
    expect(await publish(s, id, { type: "cancel", turn: "done1" })).toMatchObject({ code: "TURN_ENDED" });
    expect(await publish(s, id, { type: "steer", turn: "done1", data: { text: "x" } })).toMatchObject({
      code: "TURN_ENDED",
    });
    expect((await fx.kv.turn(id, "done1"))?.status).toBe("completed");
    expect(await storedEvents(fx.stack.agent, id)).toEqual([]);
    await s.close();
  });

  it("tool.result / approval for an unknown call, or of the wrong kind → CALL_NOT_FOUND", async () => {
    const id = session();
    const s = await socket();
    expect(await publish(s, id, { type: "tool.result", ref: "c-none", data: { result: 1 } })).toMatchObject({
      code: "CALL_NOT_FOUND",
    });
    expect(await publish(s, id, { type: "approval", ref: "c-none", data: { approved: true } })).toMatchObject({
      code: "CALL_NOT_FOUND",
    });
    await fx.kv.putCall(id, "c-tool", { turn: "t1", kind: "tool" });
    expect(await publish(s, id, { type: "approval", ref: "c-tool", data: { approved: true } })).toMatchObject({
      code: "CALL_NOT_FOUND",
    });
    expect((await fx.kv.call(id, "c-tool"))?.status).toBe("pending");
    expect(await storedEvents(fx.stack.agent, id)).toEqual([]);
    await s.close();
  });

  it("a second answer → CALL_ALREADY_ANSWERED; a retry of the first (same id) is stored once", async () => {
    const id = session();
    const [a, b] = [await socket("alice"), await socket("alice")];
    await fx.kv.putCall(id, "c1", { turn: "t1" });
    const firstId = newId();
    const first = await a.request<PublishedFrame>({
      op: "publish",
      session: id,
      event: { id: firstId, type: "tool.result", ref: "c1", data: { result: { lat: 1 } } },
    });
    expect(first).toMatchObject({ op: "published", duplicate: false });
    expect(await publish(b, id, { type: "tool.result", ref: "c1", data: { result: { lat: 2 } } })).toMatchObject({
      code: "CALL_ALREADY_ANSWERED",
    });
    const retry = await a.request<PublishedFrame>({
      op: "publish",
      session: id,
      event: { id: firstId, type: "tool.result", ref: "c1", data: { result: { lat: 1 } } },
    });
    expect(retry).toMatchObject({ op: "published", seq: first.seq, duplicate: true });
    const call = await fx.kv.call(id, "c1");
    expect(call).toMatchObject({ status: "answered", answer: firstId, answeredBy: { kind: "user", id: "alice" } });
    const stored = await storedEvents(fx.stack.agent, id);
    expect(stored.map((e) => [e.type, e.id, e.turn])).toEqual([["tool.result", firstId, "t1"]]);
    await Promise.all([a.close(), b.close()]);
  });

  it("an answer to a closed or expired call → CALL_CLOSED", async () => {
    const id = session();
    const s = await socket();
    await fx.kv.putCall(id, "closed", { turn: "t1", status: "closed", reason: "timeout" });
    await fx.kv.putCall(id, "expired", { turn: "t1", deadline: Date.now() - 1 });
    expect(await publish(s, id, { type: "tool.result", ref: "closed", data: { error: "late" } })).toMatchObject({
      code: "CALL_CLOSED",
    });
    expect(await publish(s, id, { type: "tool.result", ref: "expired", data: { result: 1 } })).toMatchObject({
      code: "CALL_CLOSED",
    });
    expect((await fx.kv.call(id, "expired"))?.status).toBe("pending");
    expect(await storedEvents(fx.stack.agent, id)).toEqual([]);
    await s.close();
  });

  it("an approval from a participant kind not among the approvers → FORBIDDEN; an operator's is stored", async () => {
    const id = session();
    const user = await socket("alice");
    const operator = await socket("olivia", "operator");
    await fx.kv.putCall(id, "pay", { turn: "t1", kind: "approval", approvers: ["operator"] });
    expect(await publish(user, id, { type: "approval", ref: "pay", data: { approved: true } })).toMatchObject({
      code: "FORBIDDEN",
    });
    expect((await fx.kv.call(id, "pay"))?.status).toBe("pending");
    expect(
      await publish(operator, id, { type: "approval", ref: "pay", data: { approved: false, reason: "no" } }),
    ).toMatchObject({ op: "published" });
    const stored = await storedEvents(fx.stack.agent, id);
    expect(stored.map((e) => [e.type, e.from.kind, e.from.id])).toEqual([["approval", "operator", "olivia"]]);
    await Promise.all([user.close(), operator.close()]);
  });

  it("an answer naming another turn than the call's → INVALID_FRAME", async () => {
    const id = session();
    const s = await socket();
    await fx.kv.putCall(id, "c1", { turn: "t1" });
    expect(await publish(s, id, { type: "tool.result", turn: "t2", ref: "c1", data: { result: 1 } })).toMatchObject({
      code: "INVALID_FRAME",
    });
    expect((await fx.kv.call(id, "c1"))?.status).toBe("pending");
    await s.close();
  });

  it("a user's handoff take/release → FORBIDDEN and the owner key stays unset", async () => {
    const id = session();
    const s = await socket();
    for (const action of ["take", "release"]) {
      expect(await publish(s, id, { type: "handoff", data: { action } })).toMatchObject({ code: "FORBIDDEN" });
    }
    expect(await fx.kv.owner(id)).toBeUndefined();
    expect(await storedEvents(fx.stack.agent, id)).toEqual([]);
    await s.close();
  });

  it("malformed control events and non-token input ids → INVALID_FRAME", async () => {
    const id = session();
    const s = await socket();
    const cases: Record<string, unknown>[] = [
      { type: "cancel" },
      { type: "cancel", turn: "has.dot" },
      { type: "steer", turn: "t1", data: { text: "" } },
      { type: "tool.result", ref: "c1", data: { result: 1, error: "both" } },
      { type: "tool.result", data: { result: 1 } },
      { type: "approval", ref: "c1", data: { approved: "yes" } },
      { type: "handoff", data: { action: "request", reason: 42 } },
      { type: "input", id: "has:colon", data: { text: "hi" } },
    ];
    for (const event of cases) {
      const reply = await s.request<ErrorFrame>({ op: "publish", session: id, event: { id: newId(), ...event } });
      expect(reply, JSON.stringify(event)).toMatchObject({ op: "error", code: "INVALID_FRAME", session: id });
    }
    expect(await storedEvents(fx.stack.agent, id)).toEqual([]);
    await s.close();
  });
});
