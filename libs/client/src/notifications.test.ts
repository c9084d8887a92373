import { createHash } from "node:crypto";
import { ErrorCode } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { GatewayHttp } from "./gateway-http.ts";
import {
  createNotifications,
  type NotificationPreferences,
  PREFERENCES_UPDATE_ROUNDS,
  type PushSubscriptionLike,
  subscriptionIdOf,
  type ThreadlineNotifications,
} from "./notifications.ts";
import { rejection } from "./test-support/rejection.ts";
import { jsonResponse, type ScriptedAnswer, scriptedFetch } from "./test-support/scripted-fetch.ts";

const ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc:def";
const PREFS: NotificationPreferences = {
  muted: false,
  mutedSessions: ["s1"],
  events: { "turn.end": true, approval: true, "tool.call": true, "operator.message": true },
};
const conflict = () => jsonResponse(409, { code: "PREFERENCES_CONFLICT", message: "stale", retryable: false });
const current = (revision: number, preferences = PREFS) => jsonResponse(200, { preferences, revision });

function notifications(...answers: ScriptedAnswer[]) {
  const script = scriptedFetch(...answers);
  const api: ThreadlineNotifications = createNotifications(
    new GatewayHttp(["https://gw"], async () => "tok", 1_000, script.fetchImpl),
  );
  return { api, calls: script.calls };
}

describe("subscriptionIdOf (the gateway's id, derived in the browser)", () => {
  const expected = createHash("sha256").update(ENDPOINT).digest().subarray(0, 16).toString("hex");

  it("is the first 16 bytes of SHA-256 of the endpoint, in hex, from a subscription, its JSON or its endpoint", async () => {
    const browser: PushSubscriptionLike = { endpoint: ENDPOINT, toJSON: () => ({ endpoint: ENDPOINT }) };
    expect(await subscriptionIdOf(browser)).toBe(expected);
    expect(await subscriptionIdOf({ endpoint: ENDPOINT, keys: {} })).toBe(expected);
    expect(await subscriptionIdOf(ENDPOINT)).toBe(expected);
    expect(await subscriptionIdOf(expected)).toBe(expected);
  });

  it("refuses something without an endpoint", async () => {
    expect((await rejection(subscriptionIdOf({ keys: {} }))).code).toBe(ErrorCode.INVALID_SUBSCRIPTION);
  });
});

describe("client.notifications requests", () => {
  it("register sends toJSON() of a browser subscription and the device; unregister deletes by derived id", async () => {
    const { api, calls } = notifications(
      jsonResponse(201, { id: "a".repeat(32), created: true, evicted: ["b".repeat(32)] }),
      new Response(null, { status: 204 }),
    );
    const json = { endpoint: ENDPOINT, expirationTime: null, keys: { p256dh: "p", auth: "a" } };
    expect(await api.register({ endpoint: ENDPOINT, toJSON: () => json }, { device: "tab-1" })).toEqual({
      id: "a".repeat(32),
      created: true,
    });
    expect(calls[0]).toMatchObject({
      url: "https://gw/v1/push/subscriptions",
      body: { subscription: json, device: "tab-1" },
    });
    await api.unregister(ENDPOINT);
    expect(calls[1]?.init.method).toBe("DELETE");
    expect(calls[1]?.url).toBe(`https://gw/v1/push/subscriptions/${await subscriptionIdOf(ENDPOINT)}`);
  });

  it("the VAPID key is fetched without a token", async () => {
    const { api, calls } = notifications(jsonResponse(200, { publicKey: "BPk" }));
    expect(await api.vapidPublicKey()).toBe("BPk");
    expect(calls[0]?.init.headers).toEqual({});
  });

  it("setPreferences with a value sends the revision only when given", async () => {
    const { api, calls } = notifications(current(4), current(5));
    await api.setPreferences(PREFS, { revision: 3 });
    await api.setPreferences(PREFS);
    expect(calls.map((c) => c.body)).toEqual([{ preferences: PREFS, revision: 3 }, { preferences: PREFS }]);
  });
});

describe("preference updaters", () => {
  it("read, apply, write at the read revision; a conflict re-reads and applies again", async () => {
    const newer = { ...PREFS, mutedSessions: ["s1", "s9"] };
    const { api, calls } = notifications(
      current(1),
      conflict(),
      current(2, newer),
      current(3, { ...newer, muted: true }),
    );
    const seen: string[][] = [];
    const result = await api.setPreferences((p) => {
      seen.push(p.mutedSessions);
      return { ...p, muted: true };
    });
    expect(seen).toEqual([["s1"], ["s1", "s9"]]); // the second round sees the other device's change
    expect(calls.filter((c) => c.init.method === "PUT").map((c) => c.body)).toEqual([
      { preferences: { ...PREFS, muted: true }, revision: 1 },
      { preferences: { ...newer, muted: true }, revision: 2 },
    ]);
    expect(result).toEqual({ preferences: { ...newer, muted: true }, revision: 3 });
  });

  it(`gives up after ${PREFERENCES_UPDATE_ROUNDS} conflicts with PREFERENCES_CONFLICT`, async () => {
    const answers = Array.from({ length: PREFERENCES_UPDATE_ROUNDS }, (_, i) => [current(i), conflict()]).flat();
    const { api, calls } = notifications(...answers);
    expect((await rejection(api.setPreferences((p) => ({ ...p, muted: true })))).code).toBe(
      ErrorCode.PREFERENCES_CONFLICT,
    );
    expect(calls).toHaveLength(2 * PREFERENCES_UPDATE_ROUNDS);
  });

  it("muteSession of a muted session and unmuteSession of an unmuted one write nothing", async () => {
    const { api, calls } = notifications(current(7), current(7));
    expect(await api.muteSession("s1")).toEqual({ preferences: PREFS, revision: 7 });
    expect(await api.unmuteSession("s2")).toEqual({ preferences: PREFS, revision: 7 });
    expect(calls.map((c) => c.init.method)).toEqual(["GET", "GET"]);
  });

  it("muteSession checks the session id before any request", async () => {
    const { api, calls } = notifications();
    expect((await rejection(api.muteSession("not a session"))).code).toBe(ErrorCode.INVALID_SESSION);
    expect(calls).toEqual([]);
  });
});

/** Compile-time check (tsc runs over tests): the DOM's PushSubscription and its JSON are accepted without a cast. */
export function domPushTypesAccepted(api: ThreadlineNotifications, sub: PushSubscription, json: PushSubscriptionJSON) {
  return [api.register(sub), api.register(json, { device: "d" }), api.unregister(sub), api.unregister(json)];
}
