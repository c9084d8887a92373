import { describe, expect, it } from "vitest";
import { openedSession } from "./open-message.ts";

describe("openedSession", () => {
  const position = { epoch: "e1", seq: 7, id: "ev" };
  it.each([
    ["threadline.open", { type: "threadline.open", session: "support-1", position }, "support-1"],
    ["without a position (not needed: the page catches up)", { type: "threadline.open", session: "s1" }, "s1"],
    ["another message type", { type: "resubscribe", session: "s1" }, undefined],
    ["a malformed session id", { type: "threadline.open", session: "a b", position }, undefined],
    ["no session", { type: "threadline.open", position }, undefined],
    ["not an object", "threadline.open", undefined],
    ["null", null, undefined],
  ])("%s", (_name, data, session) => {
    expect(openedSession(data)).toBe(session);
  });
});
