import { describe, expect, test } from "vitest";
import { DurableStreamError } from "./errors.ts";
import {
  isJsonType,
  isTextType,
  mediaType,
  parseAppend,
  parseCreate,
  parseRead,
  type RequestHeaders,
  streamIdOfPath,
} from "./request-parse.ts";

const BASE = "/v1/stream";

function headers(values: Record<string, string>): RequestHeaders {
  return { get: (name) => values[name] ?? "", has: (name) => name in values };
}

function badRequest(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DurableStreamError);
    expect((error as DurableStreamError).status).toBe("400 Bad Request");
    return (error as DurableStreamError).message;
  }
  throw new Error("expected a 400");
}

describe("content types", () => {
  test.each([
    ["application/json", "application/json", true, true],
    ["Application/JSON; charset=utf-8", "application/json", true, true],
    ["text/plain", "text/plain", false, true],
    ["application/octet-stream", "application/octet-stream", false, false],
  ])("%s", (type, media, json, text) => {
    expect(mediaType(type)).toBe(media);
    expect(isJsonType(type)).toBe(json);
    expect(isTextType(type)).toBe(text);
  });
});

test.each([
  ["/v1/stream/chat-1", "chat-1"],
  ["/v1/stream/", undefined],
  ["/v1/stream/a/b", undefined],
  ["/v1/streams/a", undefined],
])("streamIdOfPath(%s)", (path, id) => {
  expect(streamIdOfPath(path, BASE)).toBe(id);
});

describe("PUT", () => {
  test("defaults: octet-stream, no TTL, open, not a fork", () => {
    expect(parseCreate(headers({}), BASE)).toEqual({
      contentType: "application/octet-stream",
      ttlSeconds: undefined,
      expiresAt: undefined,
      closed: false,
      fork: undefined,
    });
  });

  test("a fork without a content type inherits it (undefined); the source is named by its path", () => {
    const request = parseCreate(
      headers({ "stream-forked-from": "/v1/stream/src", "stream-fork-offset": "1_2", "stream-fork-sub-offset": "3" }),
      BASE,
    );
    expect(request.contentType).toBeUndefined();
    expect(request.fork).toEqual({ source: "src", offset: "1_2", subOffset: 3 });
  });

  test.each([
    [{ "stream-ttl": "60", "stream-expires-at": "2030-01-01T00:00:00Z" }, "mutually exclusive"],
    [{ "stream-ttl": "060" }, "Stream-TTL"],
    [{ "stream-ttl": "+60" }, "Stream-TTL"],
    [{ "stream-ttl": "6e1" }, "Stream-TTL"],
    [{ "stream-ttl": "-1" }, "Stream-TTL"],
    [{ "stream-expires-at": "tomorrow" }, "Stream-Expires-At"],
    [{ "stream-fork-sub-offset": "0" }, "requires Stream-Forked-From"],
    [{ "stream-forked-from": "/v1/stream/s", "stream-fork-offset": "x" }, "Stream-Fork-Offset"],
    [{ "stream-forked-from": "/v1/stream/s", "stream-fork-sub-offset": "01" }, "Stream-Fork-Sub-Offset"],
  ])("%j is refused (400)", (values, message) => {
    expect(badRequest(() => parseCreate(headers(values), BASE))).toContain(message);
  });
});

describe("POST", () => {
  test("producer headers are parsed together; Stream-Closed and Stream-Seq are read", () => {
    expect(
      parseAppend(
        headers({
          "content-type": "text/plain",
          "producer-id": "p",
          "producer-epoch": "2",
          "producer-seq": "0",
          "stream-seq": "0009",
          "stream-closed": "true",
        }),
      ),
    ).toEqual({ contentType: "text/plain", streamSeq: "0009", producer: { id: "p", epoch: 2, seq: 0 }, close: true });
  });

  test.each([
    [{ "producer-id": "p" }, "sent together"],
    [{ "producer-id": "", "producer-epoch": "0", "producer-seq": "0" }, "must not be empty"],
    [{ "producer-id": "p", "producer-epoch": "-1", "producer-seq": "0" }, "Producer-Epoch"],
    [{ "producer-id": "p", "producer-epoch": "0", "producer-seq": "1.5" }, "Producer-Seq"],
    [{ "producer-id": "p", "producer-epoch": "9007199254740992", "producer-seq": "0" }, "Producer-Epoch"],
    [{ "producer-id": "x".repeat(257), "producer-epoch": "0", "producer-seq": "0" }, "longer"],
  ])("%j is refused (400)", (values, message) => {
    expect(badRequest(() => parseAppend(headers(values)))).toContain(message);
  });
});

describe("GET", () => {
  test.each([
    ["", { offset: undefined, live: undefined, cursor: undefined }],
    ["offset=-1&foo=bar", { offset: "-1", live: undefined, cursor: undefined }],
    ["offset=now&live=sse&cursor=12", { offset: "now", live: "sse", cursor: "12" }],
    ["offset=1_2&live=long-poll", { offset: "1_2", live: "long-poll", cursor: undefined }],
  ])("%s", (query, expected) => {
    expect(parseRead(query)).toEqual(expected);
  });

  test.each([
    ["offset=", "empty"],
    ["offset=a&offset=b", "more than one"],
    ["live=long-poll", "requires an offset"],
    ["offset=-1&live=websocket", "live must be"],
  ])("%s is refused (400)", (query, message) => {
    expect(badRequest(() => parseRead(query))).toContain(message);
  });
});
