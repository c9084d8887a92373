import { createECDH, randomBytes } from "node:crypto";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { beforeAll, describe, expect, it } from "vitest";
import { PushStoreError, PushStoreErrorCode } from "./push-errors.ts";
import {
  type PushSubscriptionInput,
  PushSubscriptions,
  pushSubscriptionId,
  pushSubscriptionProblem,
} from "./push-subscriptions.ts";
import { useProvisionedNats } from "./test-support/provisioned-nats.ts";

const fixture = useProvisionedNats();
let nc: NatsConnection;
let kv: KV;
beforeAll(async () => {
  nc = fixture.nc;
  kv = await new Kvm(nc).open("threadline-push");
});

/** A subscription as a browser's `toJSON()` gives it: real P-256 public key, 16 random auth bytes, base64url. */
function browserSubscription(endpoint = `https://push.example.com/send/${randomBytes(8).toString("hex")}`) {
  const ecdh = createECDH("prime256v1");
  return {
    endpoint,
    expirationTime: null,
    keys: { p256dh: ecdh.generateKeys().toString("base64url"), auth: randomBytes(16).toString("base64url") },
  } satisfies PushSubscriptionInput & { expirationTime: null };
}

function clock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number): void => {
      t += ms;
    },
  };
}

async function rejection(p: Promise<unknown>): Promise<PushStoreError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PushStoreError);
  return error as PushStoreError;
}

describe("pushSubscriptionProblem (pure)", () => {
  const ok = browserSubscription();
  const padded = { ...ok, keys: { p256dh: `${ok.keys.p256dh}=`, auth: `${ok.keys.auth}==` } };
  it.each([
    ["a browser subscription", ok, false, undefined],
    ["base64url with padding", padded, false, undefined],
    ["loopback http with the option", { ...ok, endpoint: "http://127.0.0.1:4000/push/1" }, true, undefined],
    ["localhost http with the option", { ...ok, endpoint: "http://localhost:4000/push/1" }, true, undefined],
    ["loopback http without it", { ...ok, endpoint: "http://127.0.0.1:4000/p" }, false, /allowLoopbackHttp/],
    ["http elsewhere", { ...ok, endpoint: "http://push.example.com/p" }, true, /must be https/],
    ["not a URL", { ...ok, endpoint: "push.example.com/p" }, false, /not a URL/],
    ["credentials in the URL", { ...ok, endpoint: "https://a:b@push.example.com/p" }, false, /credentials/],
    ["an endpoint too long", { ...ok, endpoint: `https://p.example.com/${"x".repeat(2048)}` }, false, /at most 2048/],
    ["no keys", { endpoint: ok.endpoint }, false, /keys must be an object/],
    ["p256dh too short", { ...ok, keys: { ...ok.keys, p256dh: ok.keys.p256dh.slice(0, 40) } }, false, /65 bytes/],
    [
      "p256dh not an uncompressed point",
      { ...ok, keys: { ...ok.keys, p256dh: Buffer.alloc(65, 2).toString("base64url") } },
      false,
      /uncompressed/,
    ],
    ["auth of 12 bytes", { ...ok, keys: { ...ok.keys, auth: randomBytes(12).toString("base64url") } }, false, /16/],
    ["auth not base64url", { ...ok, keys: { ...ok.keys, auth: "a+b/c".repeat(5) } }, false, /base64url/],
    ["null", null, false, /object/],
  ])("%s", (_name, value, loopback, expected) => {
    const problem = pushSubscriptionProblem(value, loopback);
    if (expected === undefined) expect(problem).toBeUndefined();
    else expect(problem).toMatch(expected);
  });

  it("the id is 16 bytes of SHA-256 of the endpoint, in hex: stable, per endpoint", () => {
    expect(pushSubscriptionId("https://a.example/1")).toMatch(/^[0-9a-f]{32}$/);
    expect(pushSubscriptionId("https://a.example/1")).toBe(pushSubscriptionId("https://a.example/1"));
    expect(pushSubscriptionId("https://a.example/1")).not.toBe(pushSubscriptionId("https://a.example/2"));
  });
});

describe("PushSubscriptions on nats-server", () => {
  it("registering the same browser twice is one entry; createdAt stays, meta is kept", async () => {
    const t = clock();
    const subs = new PushSubscriptions(kv, { now: t.now });
    const sub = browserSubscription();
    const first = await subs.register("twice", sub, { userAgent: "Chromium 120", device: "d1" });
    expect(first).toEqual({ id: pushSubscriptionId(sub.endpoint), created: true, evicted: [] });
    t.advance(1000);
    const second = await subs.register("twice", sub);
    expect(second).toEqual({ id: first.id, created: false, evicted: [] });
    const list = await subs.list("twice");
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      id: first.id,
      endpoint: sub.endpoint,
      keys: sub.keys,
      createdAt: 1_000_000,
      registeredAt: 1_000_000,
      userAgent: "Chromium 120",
      device: "d1",
    });
    // after refreshMs a re-registration rewrites registeredAt (what eviction orders by), still one entry
    t.advance(60 * 60 * 1000);
    expect((await subs.register("twice", sub)).created).toBe(false);
    expect(await subs.list("twice")).toEqual([
      expect.objectContaining({ createdAt: 1_000_000, registeredAt: 1_000_000 + 1000 + 3_600_000, device: "d1" }),
    ]);
  });

  it("padded keys are stored without padding (one form for the same subscription)", async () => {
    const subs = new PushSubscriptions(kv);
    const sub = browserSubscription();
    await subs.register("padded", {
      endpoint: sub.endpoint,
      keys: { p256dh: `${sub.keys.p256dh}=`, auth: `${sub.keys.auth}==` },
    });
    expect((await subs.list("padded"))[0]?.keys).toEqual(sub.keys);
  });

  it("two users, list, unregister, and remove conditional on the revision read", async () => {
    const subs = new PushSubscriptions(kv, { allowLoopbackHttp: true });
    const a = await subs.register("ann", browserSubscription("http://127.0.0.1:9/push/a"));
    const b = await subs.register("ann", browserSubscription());
    await subs.register("bob", browserSubscription());
    expect((await subs.list("ann")).map((s) => s.id).sort()).toEqual([a.id, b.id].sort());
    expect(await subs.list("bob")).toHaveLength(1);

    expect(await subs.unregister("ann", a.id)).toBe(true);
    expect(await subs.unregister("ann", a.id)).toBe(false);
    expect(await subs.unregister("ann", "not-an-id")).toBe(false);
    expect((await subs.list("ann")).map((s) => s.id)).toEqual([b.id]);

    // The notifier read b, then the browser refreshed it: the 410 for the old read must not remove the new one.
    const read = await subs.get("ann", b.id);
    const rewritten = await kv.put(`ann.${b.id}`, JSON.stringify({ ...read, id: undefined, revision: undefined }));
    expect(await subs.remove("ann", b.id, read?.revision)).toBe(false);
    expect(await subs.remove("ann", b.id, rewritten)).toBe(true);
    expect(await subs.list("ann")).toEqual([]);
    expect(await subs.list("bob")).toHaveLength(1);
  });

  it("invalid input is a typed error and writes nothing", async () => {
    const subs = new PushSubscriptions(kv);
    const sub = browserSubscription();
    const bad = { ...sub, keys: { ...sub.keys, auth: randomBytes(8).toString("base64url") } };
    expect((await rejection(subs.register("inv", bad))).code).toBe(PushStoreErrorCode.INVALID_SUBSCRIPTION);
    const http = { ...sub, endpoint: "http://127.0.0.1:9/p" };
    expect((await rejection(subs.register("inv", http))).message).toMatch(/allowLoopbackHttp/);
    const device = subs.register("inv", sub, { device: "has.dot" });
    expect((await rejection(device)).code).toBe(PushStoreErrorCode.INVALID_SUBSCRIPTION);
    expect((await rejection(subs.register("a.b", sub))).code).toBe(PushStoreErrorCode.INVALID_USER);
    expect((await rejection(subs.list("*"))).code).toBe(PushStoreErrorCode.INVALID_USER);
    expect(await subs.list("inv")).toEqual([]);
    expect(await kv.get(`inv.${pushSubscriptionId(sub.endpoint)}`)).toBeNull();
  });

  it("a stored value that does not validate is not listed", async () => {
    const subs = new PushSubscriptions(kv);
    const good = await subs.register("foreign", browserSubscription());
    await kv.put(`foreign.${"0".repeat(32)}`, JSON.stringify({ endpoint: "https://x.example/1", keys: {} }));
    await kv.put(`foreign.${"1".repeat(32)}`, "not json");
    expect((await subs.list("foreign")).map((s) => s.id)).toEqual([good.id]);
  });

  it("at maxPerUser a new registration evicts the least recently registered", async () => {
    const t = clock();
    const subs = new PushSubscriptions(kv, { maxPerUser: 3, refreshMs: 10, now: t.now });
    const browsers = [browserSubscription(), browserSubscription(), browserSubscription(), browserSubscription()];
    const ids: string[] = [];
    for (const b of browsers.slice(0, 3)) {
      ids.push((await subs.register("many", b)).id);
      t.advance(100);
    }
    // the first browser is still in use: it re-registers, so the second is now the least recently registered
    expect(await subs.register("many", browsers[0] as PushSubscriptionInput)).toMatchObject({ created: false });
    t.advance(100);
    const fourth = await subs.register("many", browsers[3] as PushSubscriptionInput);
    expect(fourth).toMatchObject({ created: true, evicted: [ids[1]] });
    expect((await subs.list("many")).map((s) => s.id).sort()).toEqual([ids[0], ids[2], fourth.id].sort());
    expect(() => new PushSubscriptions(kv, { maxPerUser: 0 })).toThrow(RangeError);
  });
});
