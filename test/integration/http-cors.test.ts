import type { IncomingHttpHeaders } from "node:http";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "./support/stack.ts";

const APP = "https://app.example.com";
const DEV = "http://127.0.0.1:5173";
const EVIL = "https://evil.example.com";
let stack: Stack;
let anyOrigin: Stack;

beforeAll(async () => {
  stack = await startStack({ gatewayEnv: { THREADLINE_ALLOWED_ORIGINS: `${APP},${DEV}` } });
  anyOrigin = await startStack({ nats: stack.nats });
});
afterAll(async () => {
  await anyOrigin?.[Symbol.asyncDispose]();
  await stack?.[Symbol.asyncDispose]();
});

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A raw HTTP request (node:http lets a test set `Origin` the way a browser does). */
function send(port: number, method: string, path: string, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

const preflight = (port: number, path: string, origin: string) =>
  send(port, "OPTIONS", path, {
    origin,
    "access-control-request-method": "GET",
    "access-control-request-headers": "authorization",
  });

const ROUTES = ["/v1/sessions/cors-1/presence", "/v1/sessions/cors-1/control"];
/** Methods each route allows cross-origin: presence also takes an HTTP reader's status (PROTOCOL.md §21.10). */
const METHODS: Record<string, string> = {
  "/v1/sessions/cors-1/presence": "GET, POST, OPTIONS",
  "/v1/sessions/cors-1/control": "GET, OPTIONS",
};

// Regression (issue 13): every demo page load logged CORS errors because these routes answered OPTIONS with 404.
describe("CORS on the HTTP API (PROTOCOL.md §5.1)", () => {
  it.each(ROUTES)("a preflight from an allowed origin gets 204 with the allow headers: %s", async (path) => {
    for (const origin of [APP, DEV]) {
      const reply = await preflight(stack.gateway.port, path, origin);
      expect(reply.status).toBe(204);
      expect(reply.headers["access-control-allow-origin"]).toBe(origin);
      expect(reply.headers["access-control-allow-methods"]).toBe(METHODS[path]);
      expect(reply.headers["access-control-allow-headers"]?.toLowerCase()).toContain("authorization");
      expect(reply.headers["access-control-max-age"]).toBe("600");
      expect(reply.headers.vary).toBe("Origin");
      expect(reply.headers["access-control-allow-credentials"]).toBeUndefined();
    }
  });

  it.each(ROUTES)("a GET from an allowed origin carries the allow-origin header, errors too: %s", async (path) => {
    const token = await stack.token({ sub: "alice" });
    const ok = await send(stack.gateway.port, "GET", path, { origin: APP, authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ session: "cors-1" });
    expect(ok.headers["access-control-allow-origin"]).toBe(APP);
    expect(ok.headers.vary).toBe("Origin");
    // The page can read why it was refused.
    const unauthorized = await send(stack.gateway.port, "GET", path, { origin: APP });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers["access-control-allow-origin"]).toBe(APP);
  });

  it.each(ROUTES)("another origin gets no CORS headers: preflight 403, GET without allow-origin: %s", async (path) => {
    const refused = await preflight(stack.gateway.port, path, EVIL);
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({ code: "FORBIDDEN" });
    expect(Object.keys(refused.headers).filter((h) => h.startsWith("access-control-"))).toEqual([]);
    expect(refused.headers.vary).toBe("Origin");
    const token = await stack.token({ sub: "alice" });
    const get = await send(stack.gateway.port, "GET", path, { origin: EVIL, authorization: `Bearer ${token}` });
    expect(Object.keys(get.headers).filter((h) => h.startsWith("access-control-"))).toEqual([]);
    expect(get.headers.vary).toBe("Origin");
  });

  it("requests without Origin (non-browser clients) are served without CORS headers", async () => {
    const token = await stack.token({ sub: "alice" });
    const get = await send(stack.gateway.port, "GET", ROUTES[0]!, { authorization: `Bearer ${token}` });
    expect(get.status).toBe(200);
    expect(get.headers["access-control-allow-origin"]).toBeUndefined();
    const options = await send(stack.gateway.port, "OPTIONS", ROUTES[0]!, {});
    expect(options.status).toBe(204);
    expect(options.headers.allow).toBe(METHODS[ROUTES[0]!]);
  });

  it("with no allow-list configured, any origin is echoed (never *)", async () => {
    const reply = await preflight(anyOrigin.gateway.port, ROUTES[1]!, EVIL);
    expect(reply.status).toBe(204);
    expect(reply.headers["access-control-allow-origin"]).toBe(EVIL);
  });

  it("OPTIONS elsewhere is still 404", async () => {
    expect((await preflight(stack.gateway.port, "/v1/unknown", APP)).status).toBe(404);
  });
});
