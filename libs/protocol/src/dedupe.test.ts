import { describe, expect, it } from "vitest";
import { encodeMsgpack } from "./codec.ts";
import { dedupeKey, duplicateAckProblem, parseDedupeKey } from "./dedupe.ts";

describe("dedupeKey", () => {
  it("scopes the event id to the session", () => {
    expect(dedupeKey("a1", "X")).toBe("a1/X");
    expect(dedupeKey("b1", "X")).not.toBe(dedupeKey("a1", "X"));
  });

  // Regression (issue 13 §1): ids with `/` must not make two sessions' keys collide.
  it("is unambiguous: the first / ends the session", () => {
    expect(dedupeKey("a", "b/c")).toBe("a/b/c");
    expect(parseDedupeKey("a/b/c")).toEqual({ session: "a", id: "b/c" });
    // No session id contains `/`, so "a/b" + "c" cannot produce "a/b/c".
    expect(() => dedupeKey("a/b", "c")).toThrow(TypeError);
  });

  it.each([
    ["an invalid session", "a.b", "x"],
    ["an empty id", "s", ""],
    ["an id with a space", "s", "a b"],
  ])("throws on %s", (_name, session, id) => {
    expect(() => dedupeKey(session, id)).toThrow(TypeError);
  });

  it.each(["no-slash", "/x", "s/", "s.t/x"])("parseDedupeKey(%j) is undefined", (key) => {
    expect(parseDedupeKey(key)).toBeUndefined();
  });
});

describe("duplicateAckProblem", () => {
  const published = { subject: "tl.b1.in.user.bob", id: "X", type: "input" };
  const stored = (subject: string, event: unknown) => ({ subject, data: encodeMsgpack(event) });

  it("confirms the publisher's own earlier copy", () => {
    expect(duplicateAckProblem(published, stored(published.subject, { id: "X", type: "input", ts: 1 }))).toBe(
      undefined,
    );
  });

  it.each([
    ["another session's event", stored("tl.a1.in.user.alice", { id: "X", type: "input" }), /another subject/],
    ["another author in the session", stored("tl.b1.in.user.carol", { id: "X", type: "input" }), /another subject/],
    ["another id", stored(published.subject, { id: "Y", type: "input" }), /another event id/],
    ["another type", stored(published.subject, { id: "X", type: "note" }), /type note/],
    ["not msgpack", { subject: published.subject, data: new TextEncoder().encode("{") }, /not an event/],
    ["a message that is gone", undefined, /no longer holds/],
  ])("refuses %s", (_name, at, problem) => {
    expect(duplicateAckProblem(published, at)).toMatch(problem);
  });
});
