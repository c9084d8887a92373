import { describe, expect, it } from "vitest";
import { negotiateFrames } from "./connection-auth.ts";

describe("negotiateFrames (hello.accept → welcome.frames)", () => {
  it.each([
    [undefined, []],
    [[], []],
    [["events"], ["events"]],
    [["from-the-future", "events", "events"], ["events"]],
    [["Events"], []],
  ])("%j → %j", (accept, frames) => {
    expect(negotiateFrames(accept)).toEqual(frames);
  });
});
