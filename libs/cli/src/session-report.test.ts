import type { SessionEvent } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { SessionHistory } from "./session-history.ts";
import { age, buildReport, type ReportInput } from "./session-report.ts";

const NOW = 1_700_000_000_000;
const stream = { name: "THREADLINE", epoch: "e1", lastSeq: 100 };

function historyOf(events: (Partial<SessionEvent> & { type: string; seq: number })[]): SessionHistory {
  const history = new SessionHistory();
  for (const { seq, ...e } of events) {
    history.add({
      seq,
      session: "s",
      subject: "tl.s.out.agent.a",
      stored: new Date(NOW),
      event: { id: `e${seq}`, from: { kind: "agent", id: "a" }, ts: NOW - 60_000, ...e } as SessionEvent,
    });
  }
  return history;
}

function report(overrides: Partial<ReportInput>) {
  return buildReport({
    session: "s",
    now: NOW,
    stream,
    history: new SessionHistory(),
    presence: [],
    cursors: [],
    control: [],
    ...overrides,
  });
}

const presenceEntry = (id: string, written: number, extra: Record<string, unknown> = {}) => ({
  key: `s.agent.${id}.c1`,
  written,
  value: { kind: "agent", id, connection: "c1", status: "active", since: written, heartbeatMs: 1000, ...extra },
});

describe("buildReport anomalies", () => {
  it("presence-stale: a live entry not rewritten for 3 heartbeats plus grace", () => {
    const fresh = report({ presence: [presenceEntry("a", NOW - 3000)] });
    expect(fresh.anomalies).toEqual([]);
    const stale = report({ presence: [presenceEntry("a", NOW - 5000)] });
    expect(stale.anomalies.map((a) => a.kind)).toEqual(["presence-stale"]);
    expect(stale.present[0]?.connections[0]?.stale).toBe(true);
  });

  it("tombstones are not present", () => {
    const r = report({ presence: [presenceEntry("a", NOW, { gone: "left" })] });
    expect(r.present).toEqual([]);
  });

  it("turn-orphaned only after the grace and only without presence of agent or worker", () => {
    const history = historyOf([
      { seq: 1, type: "input", id: "t1" },
      { seq: 2, type: "turn.start", turn: "t1", data: { agent: "pool", worker: "w1" } },
    ]);
    expect(report({ history }).anomalies.map((a) => a.kind)).toEqual(["turn-orphaned"]);
    expect(report({ history, orphanAfterMs: 120_000 }).anomalies).toEqual([]);
    expect(report({ history, presence: [presenceEntry("w1", NOW)] }).anomalies).toEqual([]);
  });

  // Regression (issue 13): the orphan was reported only until the next turn of the pool made its agent present again.
  it("turn-orphaned for a running turn whose worker is gone, whatever ran after it", () => {
    const history = historyOf([
      { seq: 1, type: "input", id: "t1" },
      { seq: 2, type: "turn.start", turn: "t1", data: { agent: "pool", worker: "w1" } },
      { seq: 3, type: "input", id: "t2" },
      { seq: 4, type: "turn.start", turn: "t2", data: { agent: "pool", worker: "w2" } },
      { seq: 5, type: "turn.end", turn: "t2", data: { status: "completed" } },
    ]);
    // The pool's agent is present again (a worker running a later turn), w1 is not.
    const presence = [presenceEntry("a", NOW, { metadata: { worker: "w3" } })];
    expect(report({ history, presence }).anomalies.map((a) => a.kind)).toEqual(["turn-orphaned"]);
    // With the worker present (its presence metadata names it), the turn is not orphaned.
    const withWorker = [presenceEntry("a", NOW, { metadata: { worker: "w1" } })];
    expect(report({ history, presence: withWorker }).anomalies).toEqual([]);
  });

  it("turn-orphaned by the control entry's lease: expired is orphaned at once, current is not, presence aside", () => {
    const history = historyOf([
      { seq: 1, type: "input", id: "t1" },
      { seq: 2, type: "turn.start", turn: "t1", data: { agent: "pool", worker: "w1" } },
    ]);
    const entry = (leaseUntil: number) => [
      {
        key: "s.turn.t1",
        written: NOW,
        value: { status: "running", agent: "pool", worker: "w1", updatedAt: NOW - 1000, leaseUntil },
      },
    ];
    const present = [presenceEntry("a", NOW, { metadata: { worker: "w1" } })];
    const expired = report({ history, control: entry(NOW - 60_000), presence: present, orphanAfterMs: 3_600_000 });
    expect(expired.anomalies.map((a) => a.kind)).toEqual(["turn-orphaned"]);
    expect(expired.anomalies[0]?.message).toMatch(/stopped renewing its lease 1m00s ago/);
    expect(report({ history, control: entry(NOW + 5000) }).anomalies).toEqual([]);
  });

  it("turn-unstarted after the threshold; a started or ended turn is not", () => {
    const waiting = historyOf([{ seq: 1, type: "input", id: "t1" }]);
    expect(report({ history: waiting }).anomalies.map((a) => a.kind)).toEqual(["turn-unstarted"]);
    expect(report({ history: waiting, unstartedAfterMs: 120_000 }).anomalies).toEqual([]);
    const done = historyOf([
      { seq: 1, type: "input", id: "t1" },
      { seq: 2, type: "turn.start", turn: "t1" },
      { seq: 3, type: "turn.end", turn: "t1", data: { status: "cancelled" } },
    ]);
    const r = report({ history: done });
    expect(r.anomalies).toEqual([]);
    expect(r.turns).toEqual([expect.objectContaining({ id: "t1", status: "cancelled", startSeq: 2, endSeq: 3 })]);
  });

  it("turn-state-mismatch both ways; call-overdue", () => {
    const running = historyOf([
      { seq: 1, type: "input", id: "t1" },
      { seq: 2, type: "turn.start", turn: "t1" },
    ]);
    const control = [
      { key: "s.turn.t1", written: NOW, value: { status: "completed", updatedAt: NOW } },
      { key: "s.call.c1", written: NOW, value: { kind: "tool", turn: "t1", status: "pending", deadline: NOW - 1 } },
    ];
    const r = report({ history: running, control, presence: [presenceEntry("a", NOW)] });
    expect(r.anomalies.map((a) => a.kind).sort()).toEqual(["call-overdue", "turn-state-mismatch"]);
    expect(r.owner).toBeNull();
    expect(report({ control: undefined }).owner).toBe("unknown");
  });

  it("message-open when its turn ended; cursors behind, ahead and from another epoch", () => {
    const history = historyOf([
      { seq: 10, type: "message.start", turn: "t1", ref: "m1" },
      { seq: 20, type: "turn.end", turn: "t1", data: { status: "failed" } },
      { seq: 30, type: "note" },
    ]);
    const cursors = [
      { key: "s.u.d1", written: NOW, value: { epoch: "e1", seq: 15, ts: NOW } },
      { key: "s.u.d2", written: NOW, value: { epoch: "e1", seq: 101, ts: NOW } },
      { key: "s.u.d3", written: NOW, value: { epoch: "e0", seq: 1, ts: NOW } },
      { key: "s.bad", written: NOW, value: { epoch: "e1" } },
    ];
    const r = report({ history, cursors, presence: [presenceEntry("a", NOW)] });
    expect(r.cursors.map((c) => [c.device, c.behind])).toEqual([
      ["d1", 2],
      ["d2", undefined],
      ["d3", undefined],
    ]);
    expect(r.anomalies.map((a) => a.kind).sort()).toEqual([
      "cursor-ahead",
      "cursor-other-epoch",
      "invalid-entries",
      "message-open",
    ]);
  });
});

describe("age", () => {
  it.each([
    [850, "850ms"],
    [12_000, "12s"],
    [245_000, "4m05s"],
    [3 * 3600_000 + 12 * 60_000, "3h12m"],
    [2 * 86_400_000 + 4 * 3600_000, "2d4h"],
  ])("%d ms -> %s", (ms, text) => {
    expect(age(ms)).toBe(text);
  });
});
