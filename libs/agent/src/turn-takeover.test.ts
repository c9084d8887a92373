import type { SessionEvent } from "@threadline/protocol";
import type { SubjectRecord } from "@threadline/store";
import { describe, expect, it } from "vitest";
import { scanForTakeover } from "./turn-takeover.ts";

async function* records(events: (Partial<SessionEvent> & { type: string })[]): AsyncGenerator<SubjectRecord> {
  let seq = 10;
  for (const event of events) {
    seq++;
    yield {
      session: "s1",
      seq,
      subject: "tl.s1.out.agent.a",
      event: { id: `e${seq}`, ts: 0, from: { kind: "agent", id: "a" }, ...event },
    };
  }
}

describe("scanForTakeover", () => {
  it("finds the turn's messages started and not ended, in start order; ignores other turns", async () => {
    const scan = await scanForTakeover(
      records([
        { type: "message.start", turn: "t1", ref: "m1" },
        { type: "message.start", turn: "t2", ref: "other" },
        { type: "message.append", turn: "t1", ref: "m1" },
        { type: "message.end", turn: "t1", ref: "m1" },
        { type: "message.start", turn: "t1", ref: "m3" },
        { type: "message.start", turn: "t1", ref: "m2" },
        { type: "message.append", turn: "t1", ref: "m2" },
      ]),
      "t1",
      [],
    );
    expect(scan).toEqual({ openMessages: ["m3", "m2"], openCalls: [], cancel: undefined, endStored: false });
  });

  it("tells whether the turn's turn.end is stored (another turn's does not count)", async () => {
    const other = await scanForTakeover(records([{ type: "turn.end", turn: "t2", data: {} }]), "t1", []);
    expect(other.endStored).toBe(false);
    const own = await scanForTakeover(records([{ type: "turn.end", turn: "t1", data: {} }]), "t1", []);
    expect(own.endStored).toBe(true);
  });

  it("finds the first cancel of the turn or an ancestor that the previous worker may have missed", async () => {
    const scan = await scanForTakeover(
      records([
        { type: "cancel", turn: "unrelated" },
        { type: "cancel", turn: "root" },
        { type: "cancel", turn: "t1" },
      ]),
      "t1",
      ["root"],
    );
    expect(scan.openMessages).toEqual([]);
    expect(scan.cancel?.event.turn).toBe("root");
  });

  it("finds the turn's client calls requested and not closed, in request order; ignores other turns", async () => {
    const scan = await scanForTakeover(
      records([
        { type: "tool.call", turn: "t1", ref: "c1" },
        { type: "approval.request", turn: "t1", ref: "c2" },
        { type: "tool.call", turn: "t2", ref: "other" },
        { type: "tool.result", turn: "t1", ref: "c1" },
        { type: "call.closed", turn: "t1", ref: "c1" },
        { type: "tool.call", turn: "t1", ref: "c3" },
      ]),
      "t1",
      [],
    );
    expect(scan.openCalls).toEqual(["c2", "c3"]);
    expect(scan.openMessages).toEqual([]);
  });
});
