import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { beforeAll, describe, expect, it } from "vitest";
import {
  defaultNotificationPrefs,
  MAX_MUTED_SESSIONS,
  NotificationPreferences,
  type NotificationPrefs,
  normalizeNotificationPrefs,
  notificationPrefsProblem,
  wantsNotification,
} from "./notification-prefs.ts";
import { PushStoreError, PushStoreErrorCode } from "./push-errors.ts";
import { useProvisionedNats } from "./test-support/provisioned-nats.ts";

const fixture = useProvisionedNats();
let nc: NatsConnection;
let kv: KV;
beforeAll(async () => {
  nc = fixture.nc;
  kv = await new Kvm(nc).open("threadline-push");
});

const defaults = defaultNotificationPrefs();

describe("notification preferences (pure)", () => {
  it("defaults: not muted, every event type on", () => {
    expect(defaults).toEqual({
      muted: false,
      mutedSessions: [],
      events: { "turn.end": true, approval: true, "tool.call": true, "operator.message": true },
    });
  });

  it.each([
    ["defaults", defaults, undefined],
    ["partial events", { ...defaults, events: { approval: false } }, undefined],
    ["muted not boolean", { ...defaults, muted: "yes" }, /muted/],
    ["unknown event type", { ...defaults, events: { "turn.start": true } }, /unknown event type turn\.start/],
    ["event not boolean", { ...defaults, events: { approval: 1 } }, /events\.approval/],
    ["bad session id", { ...defaults, mutedSessions: ["a.b"] }, /invalid session id/],
    ["too many muted sessions", { ...defaults, mutedSessions: Array.from({ length: 201 }, (_, i) => `s${i}`) }, /200/],
  ])("%s", (_name, value, expected) => {
    const problem = notificationPrefsProblem(value);
    if (expected === undefined) expect(problem).toBeUndefined();
    else expect(problem).toMatch(expected);
  });

  it.each([
    ["defaults", defaults, true],
    ["muted", { ...defaults, muted: true }, false],
    ["session muted", { ...defaults, mutedSessions: ["s1"] }, false],
    ["another session muted", { ...defaults, mutedSessions: ["s2"] }, true],
    ["event type off", { ...defaults, events: { ...defaults.events, approval: false } }, false],
  ] as [string, NotificationPrefs, boolean][])("wantsNotification: %s", (_name, prefs, expected) => {
    expect(wantsNotification(prefs, "s1", "approval")).toBe(expected);
    expect(MAX_MUTED_SESSIONS).toBe(200);
  });
  it("normalizeNotificationPrefs drops duplicate muted sessions and fills missing event types", () => {
    const partial = { muted: true, mutedSessions: ["s1", "s2", "s1"], events: { approval: false } };
    expect(normalizeNotificationPrefs(partial as unknown as NotificationPrefs)).toEqual({
      muted: true,
      mutedSessions: ["s1", "s2"],
      events: { ...defaults.events, approval: false },
    });
  });
});

describe("NotificationPreferences on nats-server", () => {
  it("defaults at revision 0, set is a compare-and-set, a stale revision loses", async () => {
    const prefs = new NotificationPreferences(kv);
    expect(await prefs.get("p1")).toEqual({ value: defaults, revision: 0 });
    const first = await prefs.set("p1", { ...defaults, mutedSessions: ["s1", "s1"] }, 0);
    expect(first).toBeGreaterThan(0);
    // a second device wrote from the same (absent) read: it loses and re-reads
    expect(await prefs.set("p1", { ...defaults, muted: true }, 0)).toBeUndefined();
    const read = await prefs.get("p1");
    expect(read).toEqual({ value: { ...defaults, mutedSessions: ["s1"] }, revision: first });
    const second = await prefs.set("p1", { ...read.value, muted: true }, read.revision);
    expect(second).toBeGreaterThan(first as number);
    expect((await prefs.get("p1")).value.muted).toBe(true);
  });

  it("update applies concurrent changes from two writers without losing either", async () => {
    const a = new NotificationPreferences(kv);
    const b = new NotificationPreferences(kv);
    await Promise.all([
      a.update("p2", (p) => ({ ...p, mutedSessions: [...p.mutedSessions, "sa"] })),
      b.update("p2", (p) => ({ ...p, mutedSessions: [...p.mutedSessions, "sb"] })),
    ]);
    expect((await a.get("p2")).value.mutedSessions.sort()).toEqual(["sa", "sb"]);
  });

  it("invalid preferences are a typed error and write nothing", async () => {
    const prefs = new NotificationPreferences(kv);
    const bad = { ...defaults, events: { ...defaults.events, "turn.start": false } } as NotificationPrefs;
    const error = await prefs.set("p3", bad, 0).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PushStoreError);
    expect(error).toMatchObject({ code: PushStoreErrorCode.INVALID_PREFERENCES });
    expect(await prefs.set("a.b", defaults, 0).catch((e: unknown) => e)).toMatchObject({
      code: PushStoreErrorCode.INVALID_USER,
    });
    expect(await kv.get("p3._prefs")).toBeNull();
  });

  it("stored choices are merged over the defaults; a value that does not validate reads as the defaults at its revision", async () => {
    const prefs = new NotificationPreferences(kv);
    await kv.put("p4._prefs", JSON.stringify({ muted: false, mutedSessions: [], events: { "tool.call": false } }));
    expect((await prefs.get("p4")).value.events).toEqual({ ...defaults.events, "tool.call": false });
    const revision = await kv.put("p5._prefs", JSON.stringify({ muted: "no" }));
    expect(await prefs.get("p5")).toEqual({ value: defaults, revision });
    expect(await prefs.set("p5", { ...defaults, muted: true }, revision)).toBeGreaterThan(revision);
  });
});
