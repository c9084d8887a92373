import { encodeMsgpack } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { FeedRecord } from "./feed-record.ts";

const stateEvent = (from: { kind: string; id: string }) =>
  encodeMsgpack({ id: "e1", type: "state", from, ts: 1, data: { object: "cart", op: "set", path: [], value: 1 } });

describe("FeedRecord.decode", () => {
  it("delivers a state event stored on lane st", () => {
    const record = FeedRecord.decode("s1", 5, "tl.s1.st.user.alice", stateEvent({ kind: "user", id: "alice" }));
    expect(record?.event.type).toBe("state");
  });

  // A state event on another lane is skipped by every state reader (they fold lane st only): not delivered either.
  it.each(["tl.s1.out.agent.a1", "tl.s1.ctl.user.alice", "tl.s1.in.user.alice"])(
    "skips a state event on %s",
    (subject) => {
      const [, , , kind, id] = subject.split(".");
      expect(FeedRecord.decode("s1", 5, subject, stateEvent({ kind: kind!, id: id! }))).toBeUndefined();
    },
  );
});

describe("FeedRecord.eventBytes", () => {
  it("is the stored payload, before and after the event frame was built", () => {
    const stored = encodeMsgpack({ id: "e1", type: "progress", from: { kind: "agent", id: "a1" }, ts: 1 });
    const record = FeedRecord.decode("s1", 5, "tl.s1.out.agent.a1", stored)!;
    expect([...record.eventBytes()]).toEqual([...stored]);
    record.frame("msgpack");
    expect([...record.eventBytes()]).toEqual([...stored]);
  });
});
