import { expect, test } from "vitest";
import { DurableStreamError } from "./errors.ts";
import { jsonArray, jsonMessages } from "./json-mode.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

test.each([
  ['{"a":1}', [{ a: 1 }]],
  ['[{"a":1},{"b":2}]', [{ a: 1 }, { b: 2 }]],
  ["[[1,2],[3]]", [[1, 2], [3]]],
  ["[[[1]]]", [[[1]]]],
  ['"text"', ["text"]],
  ["null", [null]],
])("POST %s stores %j (one level flattened)", (body, messages) => {
  expect(jsonMessages(bytes(body), false)).toEqual(messages);
});

test("an empty array is refused for POST and creates nothing for PUT; invalid JSON is refused", () => {
  expect(() => jsonMessages(bytes("[]"), false)).toThrow(DurableStreamError);
  expect(jsonMessages(bytes("[]"), true)).toEqual([]);
  expect(() => jsonMessages(bytes("{nope"), false)).toThrow("not valid JSON");
  expect(() => jsonMessages(new Uint8Array([0xff, 0xfe]), false)).toThrow("not valid JSON");
});

test("a read is one JSON array of the messages, whitespace normalized", () => {
  expect(jsonArray([{ a: 1 }, [2, 3], "x"])).toBe('[{"a":1},[2,3],"x"]');
  expect(jsonArray([])).toBe("[]");
});
