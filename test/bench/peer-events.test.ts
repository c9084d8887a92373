import { describe, expect, it } from "vitest";
import { liveEventJson, parsePeerEvent, resumeEventJson, sseEvent, sseResumeOffsets } from "./peer-events.ts";

describe("peer events", () => {
  it("a resume event carries n and is about 60 bytes of JSON, a live event n and t", () => {
    expect(parsePeerEvent(resumeEventJson(42))).toEqual({ n: 42 });
    expect(resumeEventJson(9999).length).toBeLessThan(70);
    expect(parsePeerEvent(liveEventJson(7, 1765000000000.25))).toEqual({ n: 7, t: 1765000000000.25 });
  });

  it("rejects what no bench writer wrote", () => {
    expect(() => parsePeerEvent('{"x":1}')).toThrow(/not a bench event/);
    expect(() => parsePeerEvent("null")).toThrow(/not a bench event/);
  });

  it("sseResumeOffsets: characters before each event, so skipping them starts at that event", () => {
    const count = 12;
    const text = Array.from({ length: count }, (_, n) => sseEvent(n, resumeEventJson(n))).join("");
    const offsets = sseResumeOffsets(count);
    expect(offsets).toHaveLength(count + 1);
    expect(offsets[0]).toBe(0);
    expect(offsets[count]).toBe(text.length);
    for (let n = 0; n < count; n++) expect(text.slice(offsets[n])).toMatch(new RegExp(`^id: ${n}\n`));
  });
});
