import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoServer, startDemoServer } from "./demo-server.ts";

const SECRET = "demo-server-test-secret-0123456789";
let root: string;
let server: DemoServer;
let gateway: ReturnType<typeof createServer>;
const seenAuth: string[] = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "demo-server-test-"));
  mkdirSync(join(root, "assets"));
  writeFileSync(join(root, "index.html"), "<!doctype html><title>shell</title>");
  writeFileSync(join(root, "assets", "app.js"), "console.log(1)");
  writeFileSync(join(root, "sw.js"), "self.addEventListener('push', () => {})");
  // A stand-in for the gateway's presence and control endpoints: records the Authorization header it got.
  gateway = createServer((req, res) => {
    seenAuth.push(req.headers.authorization ?? "");
    const [, , , session, route] = req.url?.split("/") ?? [];
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(route === "control" ? { session, owner: null } : { session, members: [] }));
  });
  await new Promise<void>((ok) => gateway.listen(0, "127.0.0.1", () => ok()));
  const { port } = gateway.address() as AddressInfo;
  server = await startDemoServer({
    root,
    gatewayUrl: "ws://gateway.example/v1/ws",
    gatewayHttpUrl: `http://127.0.0.1:${port}`,
    secret: SECRET,
  });
});

afterAll(async () => {
  await server?.close();
  await new Promise<void>((ok) => gateway?.close(() => ok()));
  rmSync(root, { recursive: true, force: true });
});

describe("demo server", () => {
  it("tells the browser where the gateway is", async () => {
    expect(await (await fetch(`${server.url}/api/config`)).json()).toEqual({
      gatewayUrl: "ws://gateway.example/v1/ws",
    });
  });

  it("mints dev tokens for users and operators, signed with the stack's secret", async () => {
    const { token } = (await (await fetch(`${server.url}/api/token?user=olga&role=operator`)).json()) as {
      token: string;
    };
    const { payload } = await jwtVerify(token, new TextEncoder().encode(SECRET));
    expect(payload).toMatchObject({ sub: "olga", role: "operator", grants: [{ session: "*" }] });
    expect(payload.exp! - payload.iat!).toBe(3600);
  });

  it("refuses bad token requests with a clear error", async () => {
    for (const [query, error] of [
      ["user=a%20b", "user must match"],
      ["role=admin&user=x", "role must be user or operator"],
      ["", "user must match"],
    ] as const) {
      const response = await fetch(`${server.url}/api/token?${query}`);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toContain(error);
    }
    expect((await fetch(`${server.url}/api/token?user=x`, { method: "POST" })).status).toBe(405);
  });

  it("proxies presence snapshots with an operator token", async () => {
    const body = await (await fetch(`${server.url}/api/presence/support-1`)).json();
    expect(body).toEqual({ session: "support-1", members: [] });
    const { payload } = await jwtVerify(seenAuth.at(-1)!.replace("Bearer ", ""), new TextEncoder().encode(SECRET));
    expect(payload.role).toBe("operator");
    expect((await fetch(`${server.url}/api/presence/bad%20id`)).status).toBe(404);
  });

  it("proxies the owner entry with an operator token", async () => {
    expect(await (await fetch(`${server.url}/api/control/support-1`)).json()).toEqual({
      session: "support-1",
      owner: null,
    });
    const { payload } = await jwtVerify(seenAuth.at(-1)!.replace("Bearer ", ""), new TextEncoder().encode(SECRET));
    expect(payload.role).toBe("operator");
    expect((await fetch(`${server.url}/api/control/bad%20id`)).status).toBe(404);
  });

  it("serves the build, the app shell for app routes, and nothing outside the build", async () => {
    const asset = await fetch(`${server.url}/assets/app.js`);
    expect(asset.headers.get("content-type")).toContain("text/javascript");
    expect(asset.headers.get("cache-control")).toContain("immutable");
    expect(await asset.text()).toBe("console.log(1)");
    for (const path of ["/", "/operator", "/operator?session=x"]) {
      expect(await (await fetch(`${server.url}${path}`)).text()).toContain("<title>shell</title>");
    }
    // The service worker: from the root (its scope is the whole app), revalidated on every load so a new build takes over.
    const worker = await fetch(`${server.url}/sw.js`);
    expect(worker.headers.get("content-type")).toContain("text/javascript");
    expect(worker.headers.get("cache-control")).toBe("no-cache");
    expect(await worker.text()).toContain("push");
    // A missing script is a 404, not the app shell: a browser must not run HTML as a service worker.
    const missing = await fetch(`${server.url}/missing.js`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).not.toContain("<title>");
    // No icon file: an empty answer, not an error (browsers ask for it on documents that name no icon).
    expect((await fetch(`${server.url}/favicon.ico`)).status).toBe(204);
    // An encoded ../ that would leave the build directory.
    expect((await fetch(`${server.url}/..%2f..%2fetc%2fpasswd`)).status).toBe(400);
  });
});
