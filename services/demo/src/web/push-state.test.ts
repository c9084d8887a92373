import { describe, expect, it } from "vitest";
import { type NotifyState, notifyState, type PushFacts, sameApplicationServerKey } from "./push-state.ts";

describe("notifyState", () => {
  it.each<[PushFacts, NotifyState]>([
    [{ supported: false, permission: "granted", subscribed: true }, "unsupported"],
    [{ supported: false, permission: "denied", subscribed: false }, "unsupported"],
    [{ supported: true, permission: "denied", subscribed: true }, "blocked"],
    [{ supported: true, permission: "denied", subscribed: false }, "blocked"],
    [{ supported: true, permission: "granted", subscribed: true }, "on"],
    [{ supported: true, permission: "granted", subscribed: false }, "off"],
    [{ supported: true, permission: "default", subscribed: true }, "off"],
    [{ supported: true, permission: "default", subscribed: false }, "off"],
  ])("%o → %s", (facts, state) => {
    expect(notifyState(facts)).toBe(state);
  });
});

describe("sameApplicationServerKey", () => {
  const raw = new Uint8Array([4, 251, 255, 0, 62, 63, 200]);
  const base64url = Buffer.from(raw).toString("base64url");

  it.each([
    ["the same key", raw.buffer, base64url, true],
    ["the same key, padded", raw.buffer, `${base64url}=`, true],
    ["another key", new Uint8Array([4, 1, 2]).buffer, base64url, false],
    ["no key (cannot tell)", null, base64url, false],
  ] as [string, ArrayBuffer | null, string, boolean][])("%s", (_name, key, publicKey, same) => {
    expect(sameApplicationServerKey(key, publicKey)).toBe(same);
  });
});
