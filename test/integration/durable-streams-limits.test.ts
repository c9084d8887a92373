import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type Stack, startStack } from "./support/stack.ts";

/** Typed refusals and documented limits of the HTTP API (PROTOCOL.md §21.7), against a real gateway and nats-server. */
let stack: Stack;
let user: string;
let operator: string;

beforeAll(async () => {
  stack = await startStack({
    gatewayEnv: {
      THREADLINE_DS_LONG_POLL_TIMEOUT_MS: "300",
      THREADLINE_DS_MAX_BODY_BYTES: "1024",
      THREADLINE_DS_READ_MAX_BYTES: "10",
      THREADLINE_DS_MAX_LIVE_PER_USER: "1",
      THREADLINE_DS_WRITES_PER_SECOND: "1",
      THREADLINE_DS_WRITE_BURST: "3",
      THREADLINE_ALLOWED_ORIGINS: "https://app.example.com",
    },
  });
  user = `Bearer ${await stack.token({ role: "user" })}`;
  operator = `Bearer ${await stack.token({ sub: "olga", role: "operator" })}`;
  await stack.agent.publish("ds-limits", { type: "note", data: { n: 1 } });
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
});

const url = (path: string) => `http://127.0.0.1:${stack.gateway.port}/v1/stream/${path}`;

async function refusal(res: Response, status: number, code: string): Promise<void> {
  expect(res.status).toBe(status);
  expect(await res.json()).toMatchObject({ code });
}

describe("authentication and grants", () => {
  test("no bearer token: 401 AUTH_FAILED", async () => {
    await refusal(await fetch(url("ds-limits")), 401, "AUTH_FAILED");
  });

  test("a token in the URL is refused even when valid (§6.2)", async () => {
    const token = user.slice(7);
    await refusal(await fetch(url(`ds-limits?access_token=${token}`)), 401, "AUTH_FAILED");
  });

  test("an expired token: 401 TOKEN_EXPIRED", async () => {
    const expired = await stack.token({ expiresIn: -60 });
    await refusal(
      await fetch(url("ds-limits"), { headers: { Authorization: `Bearer ${expired}` } }),
      401,
      "TOKEN_EXPIRED",
    );
  });

  test("reading a session the token does not grant: 403", async () => {
    const narrow = await stack.token({ grants: [{ session: "other-*", can: ["read"] }] });
    await refusal(await fetch(url("ds-limits"), { headers: { Authorization: `Bearer ${narrow}` } }), 403, "FORBIDDEN");
  });

  test("an observer cannot post to a session (the WebSocket publish checks)", async () => {
    const observer = await stack.token({ role: "observer" });
    const res = await fetch(url("ds-limits"), {
      method: "POST",
      headers: { Authorization: `Bearer ${observer}`, "Content-Type": "application/json" },
      body: JSON.stringify({ type: "input", data: { text: "hi" } }),
    });
    await refusal(res, 403, "FORBIDDEN");
  });

  test("agent output cannot be posted by clients: 400 EVENT_TYPE_NOT_ALLOWED", async () => {
    const res = await fetch(url("ds-limits"), {
      method: "POST",
      headers: { Authorization: user, "Content-Type": "application/json" },
      body: JSON.stringify({ type: "message.start", data: {} }),
    });
    await refusal(res, 400, "EVENT_TYPE_NOT_ALLOWED");
  });

  test("session logs are not deleted over HTTP (405); data streams only by operators (403 for users)", async () => {
    await refusal(
      await fetch(url("ds-limits"), { method: "DELETE", headers: { Authorization: operator } }),
      405,
      "METHOD_NOT_ALLOWED",
    );
    await fetch(url("ds-del"), { method: "PUT", headers: { Authorization: operator, "Content-Type": "text/plain" } });
    await refusal(await fetch(url("ds-del"), { method: "DELETE", headers: { Authorization: user } }), 403, "FORBIDDEN");
    expect((await fetch(url("ds-del"), { method: "DELETE", headers: { Authorization: operator } })).status).toBe(204);
    expect((await fetch(url("ds-del"), { method: "HEAD", headers: { Authorization: operator } })).status).toBe(404);
  });
});

describe("offsets", () => {
  test("malformed: 400; from another stream instance (epoch): 410, never a partial read", async () => {
    await refusal(await fetch(url("ds-limits?offset=abc"), { headers: { Authorization: user } }), 400, "BAD_REQUEST");
    const head = await fetch(url("ds-limits"), { method: "HEAD", headers: { Authorization: user } });
    const offset = head.headers.get("Stream-Next-Offset")!;
    const [epoch, seq] = offset.split("_") as [string, string];
    const otherEpoch = `${String((Number(epoch.slice(-4)) + 1) % 10_000).padStart(4, "0")}`;
    const foreign = `${epoch.slice(0, -4)}${otherEpoch}_${seq}`;
    await refusal(await fetch(url(`ds-limits?offset=${foreign}`), { headers: { Authorization: user } }), 410, "GONE");
  });

  test("an offset past the stream's end was never issued: 410", async () => {
    const head = await fetch(url("ds-limits"), { method: "HEAD", headers: { Authorization: user } });
    const [epoch] = head.headers.get("Stream-Next-Offset")!.split("_") as [string];
    await refusal(
      await fetch(url(`ds-limits?offset=${epoch}_0000000099999999`), { headers: { Authorization: user } }),
      410,
      "GONE",
    );
  });
});

describe("limits", () => {
  test("a body above THREADLINE_DS_MAX_BODY_BYTES: 413", async () => {
    const res = await fetch(url("ds-limits"), {
      method: "POST",
      headers: { Authorization: user, "Content-Type": "application/json" },
      body: JSON.stringify({ type: "input", data: { text: "x".repeat(2048) } }),
    });
    await refusal(res, 413, "PAYLOAD_TOO_LARGE");
  });

  test("reads are paged by THREADLINE_DS_READ_MAX_BYTES: every page a whole append, the last one up to date", async () => {
    const operator = `Bearer ${await stack.token({ sub: "pager", role: "operator" })}`;
    await fetch(url("ds-pages"), { method: "PUT", headers: { Authorization: operator, "Content-Type": "text/plain" } });
    for (const part of ["aaaaaaaa", "bbbbbbbb"])
      await fetch(url("ds-pages"), {
        method: "POST",
        headers: { Authorization: operator, "Content-Type": "text/plain" },
        body: part,
      });
    const first = await fetch(url("ds-pages?offset=-1"), { headers: { Authorization: operator } });
    expect(await first.text()).toBe("aaaaaaaa");
    expect(first.headers.get("Stream-Up-To-Date")).toBeNull();
    const second = await fetch(url(`ds-pages?offset=${first.headers.get("Stream-Next-Offset")}`), {
      headers: { Authorization: operator },
    });
    expect(await second.text()).toBe("bbbbbbbb");
    expect(second.headers.get("Stream-Up-To-Date")).toBe("true");
  });

  test("a long-poll with nothing new answers 204 after THREADLINE_DS_LONG_POLL_TIMEOUT_MS", async () => {
    const started = Date.now();
    const res = await fetch(url("ds-limits?offset=now&live=long-poll"), { headers: { Authorization: user } });
    expect(res.status).toBe(204);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(res.headers.get("Stream-Up-To-Date")).toBe("true");
    expect(res.headers.get("Stream-Cursor")).toMatch(/^\d+$/);
  });

  test("live reads above THREADLINE_DS_MAX_LIVE_PER_USER: 429 while the first is open", async () => {
    const controller = new AbortController();
    const sse = await fetch(url("ds-limits?offset=now&live=sse"), {
      headers: { Authorization: user },
      signal: controller.signal,
    });
    expect(sse.status).toBe(200);
    await refusal(
      await fetch(url("ds-limits?offset=now&live=long-poll"), { headers: { Authorization: user } }),
      429,
      "RATE_LIMITED",
    );
    controller.abort();
  });

  test("writes above THREADLINE_DS_WRITES_PER_SECOND (burst THREADLINE_DS_WRITE_BURST): 429, nothing stored", async () => {
    const writer = `Bearer ${await stack.token({ sub: "writer", role: "operator" })}`;
    const statuses: number[] = [];
    await fetch(url("ds-burst"), { method: "PUT", headers: { Authorization: writer, "Content-Type": "text/plain" } });
    for (let i = 0; i < 4; i++) {
      const res = await fetch(url("ds-burst"), {
        method: "POST",
        headers: { Authorization: writer, "Content-Type": "text/plain" },
        body: String(i),
      });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 2)).toEqual([204, 204]);
    expect(statuses.slice(2)).toEqual([429, 429]);
    expect(await (await fetch(url("ds-burst?offset=-1"), { headers: { Authorization: writer } })).text()).toBe("01");
  });
});

test("CORS: a preflight from an allowed origin lists the protocol's headers; responses expose Stream-*", async () => {
  const preflight = await fetch(url("ds-limits"), {
    method: "OPTIONS",
    headers: { Origin: "https://app.example.com", "Access-Control-Request-Method": "POST" },
  });
  expect(preflight.status).toBe(204);
  expect(preflight.headers.get("access-control-allow-headers")).toMatch(/Producer-Id/);
  expect(preflight.headers.get("access-control-allow-methods")).toMatch(/PUT/);
  const read = await fetch(url("ds-limits"), { headers: { Authorization: user, Origin: "https://app.example.com" } });
  expect(read.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
  expect(read.headers.get("access-control-expose-headers")).toMatch(/Stream-Next-Offset/);
  const evil = await fetch(url("ds-limits"), {
    method: "OPTIONS",
    headers: { Origin: "https://evil.example.com", "Access-Control-Request-Method": "GET" },
  });
  expect(evil.status).toBe(403);
});
