import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import webPush from "web-push";
import { ensureVapidKeys, VAPID_KEYS_FILE } from "./vapid-keys.ts";

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "threadline-vapid-"));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe("ensureVapidKeys", () => {
  it("generates a pair once (0600) and returns the same pair on every later start", () => {
    const dir = dataDir();
    const first = ensureVapidKeys(dir, {});
    const file = join(dir, VAPID_KEYS_FILE);
    expect(first.source).toEqual({ file });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(first.keys);
    expect(ensureVapidKeys(dir, {}).keys).toEqual(first.keys);
    // A usable pair: web-push signs with it.
    const headers = webPush.getVapidHeaders(
      "https://fcm.googleapis.com",
      "mailto:dev@example.com",
      first.keys.publicKey,
      first.keys.privateKey,
      "aes128gcm",
    );
    expect(headers.Authorization).toMatch(/^vapid t=.+, k=/);
  });

  it("takes the environment's pair when both variables are set, and writes nothing", () => {
    const dir = dataDir();
    const keys = webPush.generateVAPIDKeys();
    const env = { THREADLINE_VAPID_PUBLIC_KEY: keys.publicKey, THREADLINE_VAPID_PRIVATE_KEY: keys.privateKey };
    expect(ensureVapidKeys(dir, env)).toEqual({ keys, source: { env: "THREADLINE_VAPID_PUBLIC_KEY" } });
    expect(() => statSync(join(dir, VAPID_KEYS_FILE))).toThrow();
    expect(() => ensureVapidKeys(dir, { THREADLINE_VAPID_PUBLIC_KEY: keys.publicKey })).toThrow(/both/);
    expect(() => ensureVapidKeys(dir, { ...env, THREADLINE_VAPID_PRIVATE_KEY: "short" })).toThrow(
      /does not hold a VAPID key pair/,
    );
  });

  it("refuses a damaged file instead of replacing it (subscriptions depend on the key), and tightens its mode", () => {
    const dir = dataDir();
    const file = join(dir, VAPID_KEYS_FILE);
    writeFileSync(file, "{not json", { mode: 0o644 });
    expect(() => ensureVapidKeys(dir, {})).toThrow(/delete it to generate a new pair/);
    expect(readFileSync(file, "utf8")).toBe("{not json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});
