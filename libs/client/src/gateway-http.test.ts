import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { resolveClientOptions } from "./client-options.ts";
import { GatewayHttp, httpBaseOf } from "./gateway-http.ts";
import { rejection } from "./test-support/rejection.ts";
import { jsonResponse as json, scriptedFetch } from "./test-support/scripted-fetch.ts";

describe("httpBaseOf (pure)", () => {
  it.each([
    ["wss://gw.example.com/v1/ws", "https://gw.example.com"],
    ["ws://127.0.0.1:8080/v1/ws", "http://127.0.0.1:8080"],
    ["wss://example.com/threadline/v1/ws", "https://example.com/threadline"],
    ["wss://gw.example.com/v1/ws?access_token=secret", "https://gw.example.com"],
    ["wss://gw.example.com/", "https://gw.example.com"],
    ["ws://[::1]:9000/v1/ws/", "http://[::1]:9000"],
  ])("%s → %s", (ws, http) => {
    expect(httpBaseOf(ws)).toBe(http);
  });

  it("the client option httpUrl wins over the derived bases, one base per ws URL otherwise", () => {
    const common = { token: "t", WebSocket: class {} as never };
    expect(resolveClientOptions({ ...common, url: ["ws://a:1/v1/ws", "wss://b/v1/ws"] }).httpBases).toEqual([
      "http://a:1",
      "https://b",
    ]);
    expect(
      resolveClientOptions({ ...common, url: "ws://a:1/v1/ws", httpUrl: "https://api.example.com/tl/" }).httpBases,
    ).toEqual(["https://api.example.com/tl"]);
    expect(() => resolveClientOptions({ ...common, url: "ws://a/v1/ws", httpUrl: "ws://a" })).toThrow(TypeError);
  });
});

describe("GatewayHttp", () => {
  it("sends the token and a JSON body; answers the parsed JSON, undefined for 204", async () => {
    const { calls, fetchImpl } = scriptedFetch(json(201, { id: "x" }), new Response(null, { status: 204 }));
    const http = new GatewayHttp(["https://gw"], async () => "tok", 1_000, fetchImpl);
    expect(await http.call({ method: "PUT", path: "/v1/push/subscriptions", body: { a: 1 } })).toEqual({
      status: 201,
      json: { id: "x" },
    });
    expect(calls[0]?.url).toBe("https://gw/v1/push/subscriptions");
    expect(calls[0]?.init.headers).toEqual({ authorization: "Bearer tok", "content-type": "application/json" });
    expect(calls[0]?.init.body).toBe('{"a":1}');
    expect(await http.call({ method: "DELETE", path: "/v1/x", auth: false })).toEqual({ status: 204, json: undefined });
    expect(calls[1]?.init.headers).toEqual({});
  });

  it.each([
    [
      "a route error",
      json(409, { code: "PREFERENCES_CONFLICT", message: "stale", retryable: false }),
      "PREFERENCES_CONFLICT",
      false,
      /^stale$/,
    ],
    [
      "a 429 with retry-after",
      json(429, { code: "RATE_LIMITED", message: "slow", retryable: true }, { "retry-after": "7" }),
      "RATE_LIMITED",
      true,
      /retry after 7 s/,
    ],
    ["an unknown code", json(418, { code: "TEAPOT", message: "no", retryable: false }), "INTERNAL", false, /TEAPOT/],
    ["a 404 page from an older gateway", new Response("not found", { status: 404 }), "INTERNAL", false, /HTTP 404/],
    ["a 502 from a proxy", new Response("<html>", { status: 502 }), "UNAVAILABLE", true, /HTTP 502/],
  ])("%s becomes a typed error", async (_name, response, code, retryable, message) => {
    const http = new GatewayHttp(["https://gw"], async () => "tok", 1_000, scriptedFetch(response).fetchImpl);
    const error = await rejection(http.call({ method: "GET", path: "/v1/p" }));
    expect([error.code, error.retryable]).toEqual([code, retryable]);
    expect(error.message).toMatch(message);
  });

  it("a network failure moves on to the next base and remembers the one that answered", async () => {
    const { calls, fetchImpl } = scriptedFetch(new TypeError("fetch failed"), json(200, { ok: 1 }), json(200, {}));
    const http = new GatewayHttp(["https://a", "https://b"], async () => "t", 1_000, fetchImpl);
    await http.call({ method: "GET", path: "/v1/p" });
    await http.call({ method: "GET", path: "/v1/p" });
    expect(calls.map((c) => c.url)).toEqual(["https://a/v1/p", "https://b/v1/p", "https://b/v1/p"]);
  });

  it("every base unreachable → UNAVAILABLE (retryable); no answer in time → TIMEOUT", async () => {
    const down = new GatewayHttp(
      ["https://a", "https://b"],
      async () => "t",
      1_000,
      scriptedFetch(new TypeError("fetch failed"), new TypeError("fetch failed")).fetchImpl,
    );
    const unavailable = await rejection(down.call({ method: "GET", path: "/v1/p" }));
    expect([unavailable.code, unavailable.retryable]).toEqual([ErrorCode.UNAVAILABLE, true]);

    const hanging = new GatewayHttp(
      ["https://a"],
      async () => "t",
      50,
      (_url, init) => {
        return new Promise((_resolve, reject) => {
          init.signal?.addEventListener("abort", () => reject(init.signal?.reason));
        });
      },
    );
    expect((await rejection(hanging.call({ method: "GET", path: "/v1/p" }))).code).toBe(ErrorCode.TIMEOUT);
  });

  it("a token source that throws fails the call with its error, nothing sent", async () => {
    const { calls, fetchImpl } = scriptedFetch();
    const refused = new ThreadlineError(ErrorCode.AUTH_FAILED, "signed out", { retryable: false });
    const http = new GatewayHttp(["https://a"], () => Promise.reject(refused), 1_000, fetchImpl);
    expect(await rejection(http.call({ method: "GET", path: "/v1/p" }))).toBe(refused);
    expect(calls).toEqual([]);
  });
});
