import { describe, expect, it } from "vitest";
import { pinnedFrom, subjectAuthor } from "./author.ts";

describe("subjectAuthor", () => {
  it.each([
    ["tl.s1.out.agent.bot", { kind: "agent", id: "bot" }],
    ["live.tl.s1.ctl.user.alice", { kind: "user", id: "alice" }],
    ["tl.s1.sys.system.presence", { kind: "system", id: "presence" }],
  ])("%s names %j", (subject, author) => {
    expect(subjectAuthor(subject)).toEqual(author);
  });

  it.each(["tl.s1.out.agent", "tl.s1.out.robot.bot", "tl.s1.out.agent.*", "x"])("%s names nobody", (subject) => {
    expect(subjectAuthor(subject)).toBeUndefined();
  });
});

describe("pinnedFrom", () => {
  it("keeps a from that matches the subject, device included", () => {
    const from = { kind: "user" as const, id: "alice", device: "tab1" };
    expect(pinnedFrom("tl.s1.in.user.alice", from)).toBe(from);
  });

  // Regression (issue 13 §4): an agent claiming to be operator olga on its own subject.
  it("replaces a forged from with the subject's author", () => {
    expect(pinnedFrom("tl.s1.out.agent.bot", { kind: "operator", id: "olga", device: "d" })).toEqual({
      kind: "agent",
      id: "bot",
    });
    expect(pinnedFrom("tl.s1.out.agent.bot", { kind: "agent", id: "other" })).toEqual({ kind: "agent", id: "bot" });
  });

  it("is undefined when the subject names no author", () => {
    expect(pinnedFrom("tl.s1.junk", { kind: "agent", id: "bot" })).toBeUndefined();
  });
});
