import { describe, expect, it } from "vitest";
import { SAMPLE } from "../test-support/sample-notification.ts";
import {
  MAX_BODY_LENGTH,
  MAX_TITLE_LENGTH,
  notificationContent,
  parseThreadlineNotification,
} from "./notification-payload.ts";

describe("parseThreadlineNotification (pure)", () => {
  const json = JSON.stringify(SAMPLE);
  it.each([
    ["an object", SAMPLE],
    ["a JSON string", json],
    ["push message data (text())", { text: () => json, json: () => SAMPLE }],
    ["extra fields (dropped)", { ...SAMPLE, extra: 1 }],
  ])("reads %s", (_name, data) => {
    expect(parseThreadlineNotification(data)).toEqual(SAMPLE);
  });

  it("keeps a kind this version does not know, and an absent url stays absent", () => {
    const { url: _url, ...withoutUrl } = SAMPLE;
    const parsed = parseThreadlineNotification({ ...withoutUrl, kind: "reminder" });
    expect(parsed?.kind).toBe("reminder");
    expect(parsed && "url" in parsed).toBe(false);
  });

  it.each([
    ["null (a push without payload)", null],
    ["text that is not JSON", "hello"],
    ["another app's payload", { title: "Sale!" }],
    ["version 2", { ...SAMPLE, v: 2 }],
    ["another type", { ...SAMPLE, type: "threadline.other" }],
    ["an invalid session id", { ...SAMPLE, session: "a b" }],
    ["seq 0", { ...SAMPLE, position: { ...SAMPLE.position, seq: 0 } }],
    ["no position", { ...SAMPLE, position: null }],
    ["count 0", { ...SAMPLE, count: 0 }],
    ["a numeric title", { ...SAMPLE, title: 5 }],
    ["a url that is not a string", { ...SAMPLE, url: 5 }],
    ["no ts", { ...SAMPLE, ts: undefined }],
    ["an empty id", { ...SAMPLE, id: "" }],
  ])("ignores %s", (_name, data) => {
    expect(parseThreadlineNotification(data)).toBeUndefined();
  });
});

describe("notificationContent (pure)", () => {
  it("one notification per session (tag), alerting again when replaced, the payload as data", () => {
    expect(notificationContent(SAMPLE)).toEqual({
      title: "3 updates in your conversation",
      options: { body: "Your answer is ready", tag: "threadline:s-42", renotify: true, data: SAMPLE },
    });
  });

  it("cuts an over-long title and body to the documented lengths", () => {
    const long = { ...SAMPLE, title: "t".repeat(500), body: "b".repeat(1000) };
    const { title, options } = notificationContent(long);
    expect([title.length, options.body?.length]).toEqual([MAX_TITLE_LENGTH, MAX_BODY_LENGTH]);
  });
});
