import { ErrorCode, type ServerFrame, ThreadlineError } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { RequestTracker } from "./request-tracker.ts";

const pong = (rid: number): ServerFrame => ({ op: "pong", rid, ts: 1 });

describe("RequestTracker", () => {
  it("settles each request with its own reply, once", async () => {
    const tracker = new RequestTracker();
    const a = tracker.start(0, "ping");
    const b = tracker.start(0, "ping");
    expect(a.rid).not.toBe(b.rid);
    expect(tracker.resolve(b.rid, pong(b.rid))).toBe(true);
    expect(tracker.resolve(b.rid, pong(b.rid))).toBe(false);
    expect(tracker.reject(a.rid, new ThreadlineError(ErrorCode.FORBIDDEN, "no"))).toBe(true);
    await expect(b.reply).resolves.toEqual(pong(b.rid));
    await expect(a.reply).rejects.toMatchObject({ code: ErrorCode.FORBIDDEN });
    expect(tracker.size).toBe(0);
  });

  it("times out with TIMEOUT and ignores the late reply", async () => {
    const tracker = new RequestTracker();
    const { rid, reply } = tracker.start(5, "attach");
    await expect(reply).rejects.toMatchObject({ code: ErrorCode.TIMEOUT, retryable: true });
    expect(tracker.resolve(rid, pong(rid))).toBe(false);
  });

  it("rejectAll fails every outstanding request", async () => {
    const tracker = new RequestTracker();
    const replies = [tracker.start(0, "a").reply, tracker.start(60_000, "b").reply];
    tracker.rejectAll(new ThreadlineError(ErrorCode.CLOSED, "gone"));
    for (const reply of replies) await expect(reply).rejects.toMatchObject({ code: ErrorCode.CLOSED });
    expect(tracker.size).toBe(0);
  });

  it("is bounded: beyond maxOutstanding, start throws TOO_MANY_PENDING", () => {
    const tracker = new RequestTracker(2);
    tracker.start(0, "a").reply.catch(() => {});
    tracker.start(0, "b").reply.catch(() => {});
    expect(() => tracker.start(0, "c")).toThrow(expect.objectContaining({ code: ErrorCode.TOO_MANY_PENDING }));
    tracker.rejectAll(new ThreadlineError(ErrorCode.CLOSED, "gone"));
  });
});
