import { type PushService, startPushService } from "@threadline/test-kit";
import { afterAll, beforeAll } from "vitest";
import webPush from "web-push";
import { type Stack, startStack } from "./stack.ts";

/** A VAPID key pair for the whole test run (the gateway only serves the public half). */
export const TEST_VAPID_KEYS = webPush.generateVAPIDKeys();

/** Gateway settings for the push routes in tests: the test kit's push service (https on 127.0.0.1) is allowed. */
export const PUSH_GATEWAY_ENV: Record<string, string> = {
  THREADLINE_VAPID_PUBLIC_KEY: TEST_VAPID_KEYS.publicKey,
  THREADLINE_PUSH_ALLOWED_HOSTS: "127.0.0.1",
};

/** A stack whose gateway serves the push routes as configured for tests, plus `env` overrides. */
export function startPushStack(env: Record<string, string> = {}, nats?: Stack["nats"]): Promise<Stack> {
  return startStack({ gatewayEnv: { ...PUSH_GATEWAY_ENV, ...env }, ...(nats ? { nats } : {}) });
}

/**
 * A push stack and the test kit's push service for a test file: started before its first test,
 * stopped after its last. Read them inside tests.
 */
export function usePushStack(env: Record<string, string> = {}): { readonly stack: Stack; readonly push: PushService } {
  let stack: Stack | undefined;
  let push: PushService | undefined;
  beforeAll(async () => {
    push = await startPushService();
    stack = await startPushStack(env);
  });
  afterAll(async () => {
    await stack?.[Symbol.asyncDispose]();
    await push?.close();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("the push stack is not started (use it inside a test)");
    return value;
  };
  return {
    get stack() {
      return started(stack);
    },
    get push() {
      return started(push);
    },
  };
}

export interface ApiReply {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or undefined when there is none. */
  json: unknown;
}

export interface ApiRequest {
  /** A token (sent as `Authorization: Bearer …`). */
  token?: string;
  /** A value sent as JSON, or a string sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
}

/** One request to the gateway's HTTP API with `fetch`, like a browser page would make it. */
export async function api(port: number, method: string, path: string, request: ApiRequest = {}): Promise<ApiReply> {
  const headers: Record<string, string> = { ...request.headers };
  if (request.token !== undefined) headers.authorization = `Bearer ${request.token}`;
  let body: string | undefined;
  if (request.body !== undefined) {
    body = typeof request.body === "string" ? request.body : JSON.stringify(request.body);
    headers["content-type"] ??= "application/json";
  }
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text === "" ? undefined : JSON.parse(text) };
}
