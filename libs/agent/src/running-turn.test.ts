import type { SessionEvent } from "@threadline/protocol";
import type { SubjectRecord } from "@threadline/store";
import { describe, expect, it } from "vitest";
import { MAX_BUFFERED_STEERS, RunningTurn } from "./running-turn.ts";

let seq = 0;
function record(event: Partial<SessionEvent> & { type: string }): SubjectRecord {
  seq++;
  return {
    session: "s1",
    seq,
    subject: "tl.s1.ctl.user.alice",
    event: { id: `e${seq}`, ts: 0, from: { kind: "user", id: "alice", device: "tab" }, ...event },
  };
}

describe("RunningTurn", () => {
  it("aborts on a cancel of itself or of an ancestor, not of a sibling or a descendant", () => {
    const turn = new RunningTurn("s1", "child", ["root", "parent"]);
    turn.dispatch(record({ type: "cancel", turn: "sibling" }));
    turn.dispatch(record({ type: "cancel", turn: "grandchild" }));
    expect(turn.signal.aborted).toBe(false);
    turn.dispatch(record({ type: "cancel", turn: "root", data: { reason: "enough" } }));
    expect(turn.signal.aborted).toBe(true);
    expect(turn.signal.reason).toMatchObject({
      code: "TURN_ENDED",
      retryable: false,
      message: "turn root was cancelled by user alice: enough",
    });
  });

  it("buffers steers of this turn only, bounded (oldest dropped), and hands them to the iterator in order", async () => {
    const turn = new RunningTurn("s1", "t1", []);
    turn.dispatch(record({ type: "steer", turn: "t2", data: { text: "not mine" } }));
    turn.dispatch(record({ type: "steer", turn: "t1", data: { text: "a" } }));
    turn.dispatch(record({ type: "steer", turn: "t1", data: {} }));
    expect(turn.takeSteers().map((s) => s.text)).toEqual(["a"]);
    expect(turn.takeSteers()).toEqual([]);
    for (let i = 0; i < MAX_BUFFERED_STEERS + 3; i++) {
      turn.dispatch(record({ type: "steer", turn: "t1", data: { text: `s${i}` } }));
    }
    const iterator = turn.steering();
    expect((await iterator.next()).value?.text).toBe("s3");
    expect(turn.takeSteers()).toHaveLength(MAX_BUFFERED_STEERS - 1);
    const later = iterator.next();
    turn.dispatch(record({ type: "steer", turn: "t1", data: { text: "live" } }));
    expect((await later).value).toMatchObject({ text: "live", from: { kind: "user", id: "alice" } });
    const ending = iterator.next();
    turn.end();
    expect(await ending).toEqual({ done: true, value: undefined });
  });

  it("routes answers by call id to the waiting call only while it waits", () => {
    const turn = new RunningTurn("s1", "t1", []);
    const answers: string[] = [];
    const stop = turn.awaitAnswer("c1", (r) => answers.push(r.event.id));
    const answer = record({ type: "tool.result", ref: "c1", data: { result: 1 } });
    turn.dispatch(record({ type: "tool.result", ref: "c2", data: { result: 2 } }));
    turn.dispatch(answer);
    stop();
    turn.dispatch(record({ type: "approval", ref: "c1", data: { approved: true } }));
    expect(answers).toEqual([answer.event.id]);
  });
});
