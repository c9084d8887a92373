import { describe, expect, it } from "vitest";
import { MAX_PARTICIPANT_ID_LENGTH, MAX_SESSION_ID_LENGTH } from "./ids.ts";
import { isParticipantKind, Lane, ParticipantKind, Subjects, sessionOfSubject } from "./subjects.ts";

describe("Subjects", () => {
  const subjects = new Subjects();

  it.each([
    [Lane.IN, ParticipantKind.USER, "alice", "tl.s1.in.user.alice"],
    [Lane.CTL, ParticipantKind.OPERATOR, "op-7", "tl.s1.ctl.operator.op-7"],
    [Lane.OUT, ParticipantKind.AGENT, "writer_2", "tl.s1.out.agent.writer_2"],
    [Lane.SYS, ParticipantKind.SYSTEM, "presence", "tl.s1.sys.system.presence"],
  ])("event(s1, %s, %s, %s) = %s and parses back", (lane, kind, participant, subject) => {
    expect(subjects.event("s1", lane, kind, participant)).toBe(subject);
    expect(subjects.parse(subject)).toEqual({ session: "s1", lane, kind, participant });
    expect(subjects.parse(`live.${subject}`)).toEqual({ session: "s1", lane, kind, participant });
  });

  it("round-trips every lane × kind with custom prefixes", () => {
    const custom = new Subjects("acme", "rt");
    for (const lane of Object.values(Lane)) {
      for (const kind of Object.values(ParticipantKind)) {
        const subject = custom.event("S-1_x", lane, kind, "p");
        expect(subject.startsWith("acme.S-1_x.")).toBe(true);
        expect(custom.parse(subject)).toEqual({ session: "S-1_x", lane, kind, participant: "p" });
        expect(custom.parse(`rt.${subject}`)).toEqual({ session: "S-1_x", lane, kind, participant: "p" });
        // The default prefixes do not match a custom layout.
        expect(subjects.parse(subject)).toBeUndefined();
      }
    }
  });

  it("builds the filters", () => {
    expect(subjects.session("s1")).toBe("tl.s1.>");
    expect(subjects.all()).toBe("tl.>");
    expect(subjects.allInput()).toBe("tl.*.in.>");
    expect(subjects.liveAll()).toBe("live.tl.>");
    expect(subjects.liveSession("s1")).toBe("live.tl.s1.>");
  });

  it.each([
    ["empty session", "", "alice"],
    ["session with a dot", "a.b", "alice"],
    ["session wildcard *", "*", "alice"],
    ["session wildcard >", ">", "alice"],
    ["session with a space", "a b", "alice"],
    ["session too long", "s".repeat(MAX_SESSION_ID_LENGTH + 1), "alice"],
    ["non-ASCII session", "sé", "alice"],
    ["empty participant", "s1", ""],
    ["participant with a dot", "s1", "a.b"],
    ["participant wildcard", "s1", "*"],
    ["participant too long", "s1", "p".repeat(MAX_PARTICIPANT_ID_LENGTH + 1)],
  ])("event() rejects %s", (_name, session, participant) => {
    expect(() => subjects.event(session, Lane.IN, ParticipantKind.USER, participant)).toThrow(TypeError);
  });

  // Regression: event() validated only the session and participant, so a bad lane or kind built an unparsable subject.
  it("event() rejects lanes and kinds outside the tables (from untyped callers)", () => {
    expect(() => subjects.event("s1", "in.x" as Lane, ParticipantKind.USER, "a")).toThrow(TypeError);
    expect(() => subjects.event("s1", "other" as Lane, ParticipantKind.USER, "a")).toThrow(TypeError);
    expect(() => subjects.event("s1", Lane.IN, "robot" as ParticipantKind, "a")).toThrow(TypeError);
  });

  it("accepts ids at the maximum length", () => {
    const session = "s".repeat(MAX_SESSION_ID_LENGTH);
    const participant = "p".repeat(MAX_PARTICIPANT_ID_LENGTH);
    const subject = subjects.event(session, Lane.OUT, ParticipantKind.AGENT, participant);
    expect(subjects.parse(subject)).toEqual({ session, lane: Lane.OUT, kind: ParticipantKind.AGENT, participant });
  });

  it.each([
    ["another prefix", "xx.s1.in.user.alice"],
    ["too few tokens", "tl.s1.in.user"],
    ["too many tokens", "tl.s1.in.user.alice.extra"],
    ["unknown lane", "tl.s1.chat.user.alice"],
    ["unknown kind", "tl.s1.in.robot.alice"],
    ["wildcard session", "tl.*.in.user.alice"],
    ["full wildcard", "tl.>"],
    ["empty token", "tl..in.user.alice"],
    ["live prefix without the stream prefix", "live.s1.in.user.alice.x"],
    ["live prefix, too few tokens", "live.tl.s1.in.user"],
    ["empty string", ""],
  ])("parse() returns undefined for %s", (_name, subject) => {
    expect(subjects.parse(subject)).toBeUndefined();
  });

  it("isParticipantKind accepts exactly the table", () => {
    for (const kind of Object.values(ParticipantKind)) expect(isParticipantKind(kind)).toBe(true);
    for (const value of ["", "User", "bot", 1, null, undefined, {}]) expect(isParticipantKind(value)).toBe(false);
  });
});

describe("sessionOfSubject", () => {
  it.each([
    ["tl.s1.out.agent.a1", "s1"],
    ["tl.s-2.in.user.u", "s-2"],
    ["live.tl.x", "tl"],
    ["tl.s1", ""],
    ["tl", ""],
    ["", ""],
  ])("%j → %j", (subject, session) => {
    expect(sessionOfSubject(subject)).toBe(session);
  });
});
