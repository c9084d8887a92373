import { expect, test } from "vitest";
import { CURSOR_EPOCH_MS, CURSOR_INTERVAL_SECONDS, responseCursor } from "./cursor.ts";

const now = CURSOR_EPOCH_MS + 1000 * CURSOR_INTERVAL_SECONDS * 500 + 5;

test.each<[string, string | undefined, () => number, string]>([
  ["no client cursor: the current interval", undefined, () => 0.5, "500"],
  ["an older client cursor: the current interval", "499", () => 0.5, "500"],
  ["not a number: the current interval", "abc", () => 0.5, "500"],
  ["a cursor at the current interval moves forward by at least one", "500", () => 0, "501"],
  ["by up to 3600 s of jitter", "500", () => 0.9999, "680"],
  ["a cursor ahead of the clock still moves forward", "900", () => 0, "901"],
])("%s", (_name, client, random, expected) => {
  expect(responseCursor(client, now, random)).toBe(expected);
});
