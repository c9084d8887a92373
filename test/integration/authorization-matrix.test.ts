import type { ServerFrame } from "@threadline/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ControlKv } from "./support/control-kv.ts";
import { RawSocket } from "./support/raw-socket.ts";
import { type Stack, startStack } from "./support/stack.ts";
import { mintToken } from "./support/tokens.ts";

type Role = "user" | "operator" | "observer" | "admin";
const ROLES: Role[] = ["user", "operator", "observer", "admin"];

/** Every client-publishable operation, plus agent-lane types nobody may publish through the gateway. */
const PUBLISHES = [
  { name: "input", event: { type: "input", data: { text: "hi" } }, needs: "write" },
  { name: "cancel", event: { type: "cancel", turn: "t1" }, needs: "control" },
  { name: "steer", event: { type: "steer", turn: "t1", data: { text: "shorter" } }, needs: "control" },
  { name: "tool.result", event: { type: "tool.result", ref: "c1", data: { result: 1 } }, needs: "control" },
  { name: "approval", event: { type: "approval", ref: "c2", data: { approved: true } }, needs: "control" },
  { name: "handoff request", event: { type: "handoff", data: { action: "request" } }, needs: "control" },
  { name: "handoff take", event: { type: "handoff", data: { action: "take" } }, needs: "operator" },
  { name: "handoff release", event: { type: "handoff", data: { action: "release" } }, needs: "operator" },
  { name: "state", event: { type: "state", data: { object: "cart", op: "set", path: [], value: 1 } }, needs: "write" },
  {
    name: "state on an agent- object",
    event: { type: "state", data: { object: "agent-plan", op: "set", path: [], value: 1 } },
    needs: "operator",
  },
  { name: "message.append (agent lane)", event: { type: "message.append", data: {} }, needs: "agent" },
  { name: "turn.start (agent lane)", event: { type: "turn.start", data: {} }, needs: "agent" },
  { name: "presence.join (sys lane)", event: { type: "presence.join", data: {} }, needs: "agent" },
] as const;

/** The exact outcome the protocol promises for a role on a granted / not granted session. */
function expected(role: Role, granted: boolean, needs: (typeof PUBLISHES)[number]["needs"]): string {
  if (needs === "agent") return "EVENT_TYPE_NOT_ALLOWED";
  if (!granted || role === "observer") return "FORBIDDEN";
  if (needs === "operator" && role === "user") return "FORBIDDEN";
  return "published";
}

const outcome = (f: ServerFrame) => (f.op === "error" ? f.code : f.op);

let stack: Stack;
let control: ControlKv;
/** Every socket the matrix opened, checked for leaks at the end. */
const opened: { socket: RawSocket; readable: (session: string) => boolean }[] = [];
/** Sessions and the number of events each should hold after the matrix. */
const storedExpected = new Map<string, number>();
const SECRET = "mx-secret";

beforeAll(async () => {
  stack = await startStack();
  control = await ControlKv.open(stack.nc);
  // A session nobody in the matrix is granted, with history and live traffic during the matrix.
  await stack.agent.publish(SECRET, { type: "note", data: { text: "classified" } });
});
afterAll(async () => {
  await Promise.all(opened.map((o) => o.socket.close()));
  await stack?.[Symbol.asyncDispose]();
});

describe.each(ROLES)("role %s", (role) => {
  for (const granted of [true, false]) {
    const session = `mx-${role}-${granted ? "granted" : "other"}`;
    it(`${granted ? "granted" : "not granted"} session: attach, every publish, ack, presence and control queries`, async () => {
      // Grants cover only sessions "mx-<role>-granted*"; the observer's grant even claims write/control.
      const socket = await RawSocket.connect(
        stack.gateway.url,
        await mintToken({
          sub: `${role}-1`,
          role,
          grants: [{ session: `mx-${role}-granted*`, can: ["read", "write", "control"] }],
        }),
      );
      opened.push({ socket, readable: (s) => s.startsWith(`mx-${role}-granted`) });
      await stack.agent.publish(session, { type: "note", data: { text: "history" } });
      storedExpected.set(session, 1);
      // The running turn and open calls the control events name (PROTOCOL.md §17), as an agent would leave them.
      await control.putTurn(session, "t1", { status: "running" });
      await control.putCall(session, "c1", { turn: "t1", kind: "tool" });
      await control.putCall(session, "c2", { turn: "t1", kind: "approval", approvers: ["user", "operator"] });

      const attach = await socket.request({ op: "attach", session, from: "start" });
      expect(outcome(attach)).toBe(granted ? "attached" : "FORBIDDEN");
      if (attach.op === "error") expect(attach.session).toBe(session);

      for (const p of PUBLISHES) {
        const reply = await socket.request({ op: "publish", session, event: p.event });
        expect({ op: p.name, outcome: outcome(reply) }).toEqual({
          op: p.name,
          outcome: expected(role, granted, p.needs),
        });
        if (reply.op === "published") storedExpected.set(session, (storedExpected.get(session) ?? 0) + 1);
      }

      // ack / cursor: allowed on an attached (= readable) session, NOT_ATTACHED otherwise.
      if (granted) {
        await socket.waitEvents(session, 1);
        const seq = socket.events(session)[0]!.seq;
        socket.send({ op: "ack", session, seq });
        // Ordered per socket: the pong comes after any error the ack could have caused.
        await socket.request({ op: "ping" });
        expect(socket.frames.filter((f) => f.op === "error" && f.session === session && !("rid" in f))).toEqual([]);
      } else {
        const err = socket.waitNew((f) => f.op === "error" && f.session === session);
        socket.send({ op: "ack", session, seq: 1 });
        expect(outcome(await err)).toBe("NOT_ATTACHED");
      }
      // Presence query (HTTP, same token): read on the session, else 403 FORBIDDEN.
      const token = await mintToken({
        sub: `${role}-1`,
        role,
        grants: [{ session: `mx-${role}-granted*`, can: ["read", "write", "control"] }],
      });
      const presence = await fetch(`http://127.0.0.1:${stack.gateway.port}/v1/sessions/${session}/presence`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect({ presence: presence.status }).toEqual({ presence: granted ? 200 : 403 });
      if (!granted) expect(await presence.json()).toMatchObject({ code: "FORBIDDEN" });
      else await presence.arrayBuffer();
      const owner = await fetch(`http://127.0.0.1:${stack.gateway.port}/v1/sessions/${session}/control`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect({ control: owner.status }).toEqual({ control: granted ? 200 : 403 });
      expect(await owner.json()).toMatchObject(granted ? { session } : { code: "FORBIDDEN" });
      // Attach to the session nobody is granted is always refused.
      expect(outcome(await socket.request({ op: "attach", session: SECRET, from: "start" }))).toBe("FORBIDDEN");
    });
  }
});

describe("after the matrix", () => {
  it("stored exactly the allowed events, stamped with the token's identity", async () => {
    await stack.agent.publish(SECRET, { type: "note", data: { text: "live secret" } });
    for (const [session, count] of storedExpected) {
      const stored = [];
      for await (const r of stack.agent.history(session)) stored.push(r.event);
      expect({ session, count: stored.length }).toEqual({ session, count });
      const role = session.split("-")[1] as Role;
      for (const event of stored.slice(1)) {
        expect(event.from).toMatchObject({
          id: `${role}-1`,
          kind: role === "operator" || role === "admin" ? "operator" : "user",
        });
      }
    }
  });

  it("0 leaks: no socket received an event (or attach) of a session it may not read", () => {
    let events = 0;
    for (const { socket, readable } of opened) {
      for (const f of socket.frames) {
        if (f.op === "event" || f.op === "attached" || f.op === "synced") {
          events++;
          expect({ session: f.session, readable: readable(f.session) }).toEqual({ session: f.session, readable: true });
        }
      }
    }
    expect(events).toBeGreaterThan(0);
  });

  it("a refresh with narrower grants ends attachments the new token cannot read", async () => {
    const s = await RawSocket.connect(stack.gateway.url, await mintToken({ sub: "dora" }));
    expect(outcome(await s.request({ op: "attach", session: "mx-narrow", from: "start" }))).toBe("attached");
    const detached = s.waitNew((f) => f.op === "detached" && f.session === "mx-narrow");
    s.send({ op: "hello", token: await mintToken({ sub: "dora", grants: [{ session: "other", can: ["read"] }] }) });
    expect(await detached).toMatchObject({ code: "FORBIDDEN" });
    const ack = await stack.agent.publish("mx-narrow", { type: "note", data: {} });
    await s.request({ op: "ping" });
    expect(s.events("mx-narrow").some((e) => e.seq === ack.seq)).toBe(false);
    await s.close();
  });
});
