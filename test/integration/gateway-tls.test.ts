import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeMsgpack, encodeMsgpack } from "@threadline/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type Stack, startStack } from "./support/stack.ts";

let dir: string;
let stack: Stack;
let cert: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tl-tls-"));
  // A throwaway self-signed certificate for 127.0.0.1.
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ],
    { stdio: "ignore" },
  );
  cert = readFileSync(join(dir, "cert.pem"), "utf8");
  stack = await startStack({
    gatewayEnv: { THREADLINE_TLS_CERT: join(dir, "cert.pem"), THREADLINE_TLS_KEY: join(dir, "key.pem") },
  });
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
});

describe("TLS in the gateway (THREADLINE_TLS_CERT / THREADLINE_TLS_KEY)", () => {
  it("serves wss:// with the configured certificate", async () => {
    expect(stack.gateway.url.startsWith("wss://")).toBe(true);
    const ws = new WebSocket(stack.gateway.url, { ca: cert });
    ws.binaryType = "nodebuffer";
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    const welcome = new Promise<Record<string, unknown>>((resolve) =>
      ws.once("message", (data: Buffer) => resolve(decodeMsgpack(new Uint8Array(data)) as Record<string, unknown>)),
    );
    ws.send(encodeMsgpack({ op: "hello", token: await stack.token({ sub: "alice" }) }));
    expect(await welcome).toMatchObject({ op: "welcome", user: "alice" });
    ws.close();
  });

  it("refuses plain ws:// on the TLS port", async () => {
    const ws = new WebSocket(stack.gateway.url.replace("wss://", "ws://"));
    const outcome = await new Promise<string>((resolve) => {
      ws.once("open", () => resolve("open"));
      ws.once("error", () => resolve("error"));
    });
    expect(outcome).toBe("error");
  });
});
