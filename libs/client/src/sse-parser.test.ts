import { describe, expect, test } from "vitest";
import { SseParser } from "./sse-parser.ts";

const CONTROL = { event: "control", data: '{"streamNextOffset":"x"}' };

describe("SseParser", () => {
  test.each([
    ["LF", 'event: control\ndata:{"streamNextOffset":"x"}\n\n', [CONTROL]],
    ["CRLF", 'event: control\r\ndata:{"streamNextOffset":"x"}\r\n\r\n', [CONTROL]],
    ["CR", 'event: control\rdata:{"streamNextOffset":"x"}\r\r', [CONTROL]],
    ["multi-line data joined with LF", "event: data\ndata:[1,\ndata:2]\n\n", [{ event: "data", data: "[1,\n2]" }]],
    ["one leading space dropped, no more", "data:  a\n\n", [{ event: "message", data: " a" }]],
    ["comments ignored", ": keep-alive\ndata:x\n\n", [{ event: "message", data: "x" }]],
    ["no data: nothing dispatched", "event: control\n\n", []],
    ["field without colon", "data\n\n", [{ event: "message", data: "" }]],
    ["id and retry ignored", "id: 7\nretry: 10\ndata:x\n\n", [{ event: "message", data: "x" }]],
    ["an unfinished event waits", "event: data\ndata:x\n", []],
  ])("%s", (_, text, expected) => {
    expect(new SseParser().push(text)).toEqual(expected);
  });

  test("the same events whatever the chunking (every split point, CRLF included)", () => {
    const text = 'event: data\r\ndata:[{"seq":1}]\r\n\r\nevent: control\r\ndata:{"streamNextOffset":"x"}\r\n\r\n';
    const whole = new SseParser().push(text);
    expect(whole).toHaveLength(2);
    for (let cut = 0; cut <= text.length; cut++) {
      const parser = new SseParser();
      expect([...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))]).toEqual(whole);
    }
    const parser = new SseParser();
    expect([...text].flatMap((c) => parser.push(c))).toEqual(whole);
  });

  test("a line longer than the bound throws instead of growing", () => {
    const parser = new SseParser(16);
    expect(() => parser.push(`data:${"x".repeat(20)}`)).toThrow(RangeError);
  });
});
