import { type ClientOptions, createClient, ErrorCode } from "@threadline/client";
import { createPushSubscription, freePort } from "@threadline/test-kit";
import { describe, expect, it, onTestFinished } from "vitest";
import WebSocket from "ws";
import { rejection } from "../../libs/client/src/test-support/rejection.ts";
import { startPushStack, TEST_VAPID_KEYS, usePushStack } from "./support/push-api.ts";

const fx = usePushStack();

/** A client of `user` that never attaches: `client.notifications` needs no socket. */
function clientOf(user: string, options: Partial<ClientOptions> = {}) {
  const client = createClient({
    url: fx.stack.gateway.url,
    token: () => fx.stack.token({ sub: user }),
    WebSocket: WebSocket as never,
    ...options,
  });
  onTestFinished(() => client.close());
  return client;
}

describe("client.notifications against a real gateway (PROTOCOL.md §20)", () => {
  it("register, register again, list, unregister by subscription — no socket opened", async () => {
    const client = clientOf("sdk-devices");
    expect(await client.notifications.vapidPublicKey()).toBe(TEST_VAPID_KEYS.publicKey);
    const subscription = createPushSubscription(fx.push, { applicationServerKey: TEST_VAPID_KEYS.publicKey });
    const first = await client.notifications.register(subscription, { device: "tab-1" });
    expect(first).toEqual({ id: expect.stringMatching(/^[0-9a-f]{32}$/), created: true });
    expect(await client.notifications.register(subscription, { device: "tab-1" })).toEqual({
      id: first.id,
      created: false,
    });
    expect(await client.notifications.list()).toEqual([
      expect.objectContaining({ id: first.id, endpointOrigin: fx.push.origin, device: "tab-1" }),
    ]);
    await client.notifications.unregister(subscription);
    expect(await client.notifications.list()).toEqual([]);
    await client.notifications.unregister(subscription.endpoint); // idempotent
    expect(client.status.type).toBe("idle");
  });

  it("refusals arrive as typed errors with the route's code", async () => {
    const client = clientOf("sdk-refusals");
    const outside = { ...createPushSubscription(fx.push), endpoint: "https://internal.example.com/push/1" };
    expect((await rejection(client.notifications.register(outside))).code).toBe(ErrorCode.PUSH_HOST_NOT_ALLOWED);
    const broken = { ...createPushSubscription(fx.push), keys: { p256dh: "x", auth: "y" } };
    const invalid = await rejection(client.notifications.register(broken));
    expect([invalid.code, invalid.retryable]).toEqual([ErrorCode.INVALID_SUBSCRIPTION, false]);
    const stale = await rejection(
      client.notifications.setPreferences(
        { ...(await client.notifications.preferences()).preferences, muted: true },
        {
          revision: 99,
        },
      ),
    );
    expect(stale.code).toBe(ErrorCode.PREFERENCES_CONFLICT);
    const expired = clientOf("sdk-refusals", { token: () => fx.stack.token({ sub: "sdk-refusals", expiresIn: -60 }) });
    expect((await rejection(expired.notifications.list())).code).toBe(ErrorCode.TOKEN_EXPIRED);
  });

  it("muteSession/unmuteSession; an updater that lost a race re-reads and keeps the other device's change", async () => {
    const laptop = clientOf("sdk-prefs");
    const phone = clientOf("sdk-prefs");
    expect((await laptop.notifications.preferences()).revision).toBe(0);
    await laptop.notifications.muteSession("s-1");
    expect((await phone.notifications.preferences()).preferences.mutedSessions).toEqual(["s-1"]);

    const rounds: string[][] = [];
    const result = await laptop.notifications.setPreferences(async (current) => {
      rounds.push(current.mutedSessions);
      // The phone writes between the laptop's read and its write: the laptop's first write must lose.
      if (rounds.length === 1) await phone.notifications.muteSession("s-2");
      return { ...current, events: { ...current.events, approval: false } };
    });
    expect(rounds).toEqual([["s-1"], ["s-1", "s-2"]]);
    expect(result.preferences).toMatchObject({ mutedSessions: ["s-1", "s-2"], events: { approval: false } });

    const unmuted = await phone.notifications.unmuteSession("s-1");
    expect(unmuted.preferences.mutedSessions).toEqual(["s-2"]);
    expect(unmuted.preferences.events.approval).toBe(false);
    expect(await laptop.notifications.preferences()).toEqual(unmuted);
  });

  it("with several gateway URLs, a dead first one is skipped", async () => {
    const dead = `ws://127.0.0.1:${await freePort()}/v1/ws`;
    const client = clientOf("sdk-failover", { url: [dead, fx.stack.gateway.url] });
    expect(await client.notifications.preferences()).toMatchObject({ revision: 0 });
  });

  it("vapidPublicKey rejects with PUSH_DISABLED when the gateway has no VAPID key", async () => {
    const disabled = await startPushStack({ THREADLINE_VAPID_PUBLIC_KEY: "" }, fx.stack.nats);
    onTestFinished(() => disabled[Symbol.asyncDispose]());
    const client = clientOf("sdk-disabled", { url: disabled.gateway.url });
    expect((await rejection(client.notifications.vapidPublicKey())).code).toBe(ErrorCode.PUSH_DISABLED);
  });
});
