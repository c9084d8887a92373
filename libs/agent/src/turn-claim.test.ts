import type { SessionEvent } from "@threadline/protocol";
import type { SubjectRecord } from "@threadline/store";
import { describe, expect, it } from "vitest";
import { routeInput } from "./turn-claim.ts";

const record = (event: Partial<SessionEvent> & { type: string; from: SessionEvent["from"] }): SubjectRecord => ({
  session: "s1",
  seq: 7,
  subject: `tl.s1.in.${event.from.kind}.${event.from.id}`,
  event: { id: "e1", ts: 0, ...event },
});
const user = { kind: "user", id: "alice" } as const;
const agent = { kind: "agent", id: "orchestrator" } as const;

describe("routeInput", () => {
  it("entry pools take user and operator input (turn id = event id); other pools and other senders are ignored", () => {
    expect(routeInput(record({ type: "input", from: user }), "chat", true)).toEqual({
      turn: "e1",
      parent: undefined,
      ancestors: [],
      fromUser: true,
    });
    expect(routeInput(record({ type: "input", from: { kind: "operator", id: "olga" } }), "chat", true)).toMatchObject({
      fromUser: true,
    });
    expect(routeInput(record({ type: "input", from: user }), "writer", false)).toBeUndefined();
    expect(routeInput(record({ type: "input", from: agent }), "chat", true)).toBeUndefined();
    expect(routeInput(record({ type: "note", from: user }), "chat", true)).toBeUndefined();
    expect(routeInput(record({ type: "input", id: "has space", from: user }), "chat", true)).toMatch(/not a turn id/);
  });

  it("every pool takes turn.requests addressed to it, with parent and ancestors", () => {
    const request = (data: unknown, extra: Partial<SessionEvent> = {}) =>
      record({ type: "turn.request", id: "sub1", turn: "sub1", from: agent, data, ...extra });
    expect(
      routeInput(request({ agent: "writer", parent: "root", ancestors: ["root"], input: {} }), "writer", false),
    ).toEqual({
      turn: "sub1",
      parent: "root",
      ancestors: ["root"],
      fromUser: false,
    });
    expect(
      routeInput(request({ agent: "other", parent: "root", ancestors: ["root"] }), "writer", true),
    ).toBeUndefined();
    expect(routeInput(request({ agent: "writer", ancestors: ["bad id"] }), "writer", false)).toMatch(/malformed/);
    expect(routeInput(request({ agent: "writer", ancestors: "root" }), "writer", false)).toMatch(/malformed/);
    expect(
      routeInput(
        request({ agent: "writer", ancestors: Array.from({ length: 33 }, (_, i) => `a${i}`) }),
        "writer",
        false,
      ),
    ).toMatch(/malformed/);
  });
});
