import { describe, expect, it } from "vitest";
import { buildNotificationPayload, excerpt, MAX_PAYLOAD_BYTES, payloadBytes, triggerContent } from "./payload.ts";
import type { Trigger } from "./trigger.ts";

const base = { session: "s1", seq: 9, ts: 1_700_000_000_000, eventId: "ev9" };
const turnEnd = (status: "completed" | "failed" | "interrupted"): Trigger => ({ ...base, kind: "turn.end", status });

describe("excerpt", () => {
  it.each([
    ["short", "Hello", 10, "Hello"],
    ["white space folded", "  Hello \n\n  world  ", 20, "Hello world"],
    ["cut with an ellipsis", "Hello world", 8, "Hello w…"],
    ["no space before the ellipsis", "Hello world", 7, "Hello…"],
    ["code points, not UTF-16 units", "😀😀😀😀", 3, "😀😀…"],
    ["nothing left", "abc", 0, ""],
  ])("%s", (_name, text, max, expected) => {
    expect(excerpt(text, max)).toBe(expected);
    expect(Array.from(excerpt(text, max)).length).toBeLessThanOrEqual(Math.max(0, max));
  });
});

describe("triggerContent", () => {
  it.each<[string, Trigger, string | undefined, { title: string; body: string }]>([
    [
      "completed, text read",
      turnEnd("completed"),
      "  The answer\nis 42. ",
      { title: "Your answer is ready", body: "The answer is 42." },
    ],
    [
      "completed, text unreadable",
      turnEnd("completed"),
      undefined,
      { title: "Your answer is ready", body: "The agent finished." },
    ],
    ["failed", turnEnd("failed"), "x", { title: "The agent could not finish", body: expect.any(String) }],
    [
      "interrupted",
      turnEnd("interrupted"),
      undefined,
      { title: "The agent could not finish", body: expect.any(String) },
    ],
    [
      "approval",
      { ...base, kind: "approval", call: "c", text: "Refund 20 EUR" },
      undefined,
      { title: "Approval needed", body: "Refund 20 EUR" },
    ],
    [
      "tool call",
      { ...base, kind: "tool.call", call: "c", text: "geolocation" },
      undefined,
      { title: "Your device is needed", body: "geolocation" },
    ],
    [
      "operator",
      { ...base, kind: "operator.message", text: "Hi there" },
      undefined,
      { title: "New message from support", body: "Hi there" },
    ],
  ])("%s", (_name, trigger, text, expected) => {
    expect(triggerContent(trigger, text)).toEqual(expected);
  });

  it("a completed turn's excerpt is at most 200 characters", () => {
    expect(Array.from(triggerContent(turnEnd("completed"), "a ".repeat(500)).body).length).toBeLessThanOrEqual(200);
  });
});

describe("buildNotificationPayload", () => {
  it("one trigger: its own title and body, every field of the contract", () => {
    const payload = buildNotificationPayload({
      id: "n.e1.s1.9.u1",
      epoch: "e1",
      user: "u1",
      members: [turnEnd("completed")],
      turnText: "Done.",
      openUrl: "https://shop.example/chat/{session}?from=push",
    });
    expect(payload).toEqual({
      v: 1,
      type: "threadline.notification",
      id: "n.e1.s1.9.u1",
      kind: "turn.end",
      session: "s1",
      user: "u1",
      position: { epoch: "e1", seq: 9, id: "ev9" },
      count: 1,
      title: "Your answer is ready",
      body: "Done.",
      url: "https://shop.example/chat/s1?from=push",
      ts: 1_700_000_000_000,
    });
  });

  it("a burst: '<count> updates', the last one's title as body, its position and kind; no url unless configured", () => {
    const members: Trigger[] = [
      { ...base, seq: 3, kind: "tool.call", call: "c", text: "x" },
      { ...base, seq: 5, kind: "operator.message", text: "hi" },
      { ...base, seq: 9, eventId: "last", kind: "approval", call: "c2", text: "Pay" },
    ];
    const payload = buildNotificationPayload({ id: "n.e1.s1.9.u1", epoch: "e1", user: "u1", members });
    expect(payload).toMatchObject({
      count: 3,
      kind: "approval",
      title: "3 updates in your conversation",
      body: "Approval needed",
      position: { seq: 9, id: "last" },
    });
    expect(payload).not.toHaveProperty("url");
  });

  it("stays within 3 KiB with the longest ids, a long url and multi-byte text", () => {
    const long = "x".repeat(128);
    const payload = buildNotificationPayload({
      id: `n.${"e".repeat(64)}.h=${"a".repeat(22)}.9007199254740991.h=${"b".repeat(22)}`,
      epoch: "e".repeat(64),
      user: long,
      members: [
        { ...base, session: long, eventId: '"'.repeat(64), kind: "approval", call: "c", text: "€".repeat(1000) },
      ],
      openUrl: `https://shop.example/${"p".repeat(980)}/{session}`,
    });
    expect(payloadBytes(payload)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
    // 400 three-byte characters did not fit: the body was shortened, not dropped
    expect(Array.from(payload.body).length).toBeLessThan(400);
    expect(payload.body.length).toBeGreaterThan(100);
    expect(Array.from(payload.title).length).toBeLessThanOrEqual(120);
  });

  it("refuses an empty burst", () => {
    expect(() => buildNotificationPayload({ id: "n", epoch: "e", user: "u", members: [] })).toThrow(RangeError);
  });
});
