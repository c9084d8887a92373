import { DEFAULT_PUSH_ALLOWED_HOSTS } from "@threadline/store";
import { describe, expect, it } from "vitest";
import webPush from "web-push";
import { ConfigError, loadNotifierConfig } from "./config.ts";

const vapid = webPush.generateVAPIDKeys();
const push = {
  THREADLINE_VAPID_PUBLIC_KEY: vapid.publicKey,
  THREADLINE_VAPID_PRIVATE_KEY: vapid.privateKey,
  THREADLINE_VAPID_SUBJECT: "mailto:ops@example.com",
};

function problems(env: Record<string, string>): string[] {
  try {
    loadNotifierConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  return [];
}

describe("loadNotifierConfig", () => {
  it("defaults of the contract", () => {
    const config = loadNotifierConfig(push);
    expect(config).toMatchObject({
      delayMs: 5000,
      maxAgeMs: 3_600_000,
      collapseMaxMs: 60_000,
      userRate: 6,
      userRateWindowMs: 60_000,
      httpPort: 8082,
      stream: "THREADLINE",
      subjectPrefix: "tl",
      presenceBucket: "threadline-presence",
      controlBucket: "threadline-control",
      pushBucket: "threadline-push",
      notifyBucket: "threadline-notify",
      durable: "threadline-notifier",
      webhook: undefined,
      openUrl: undefined,
      allowLoopbackHttp: false,
    });
    expect(config.vapid).toEqual({
      publicKey: vapid.publicKey,
      privateKey: vapid.privateKey,
      subject: "mailto:ops@example.com",
    });
    expect(config.pushAllowedHosts).toEqual(DEFAULT_PUSH_ALLOWED_HOSTS);
  });

  it("a webhook alone is enough; secrets are a comma list; retry settings", () => {
    const config = loadNotifierConfig({
      THREADLINE_WEBHOOK_URL: "https://app.example/hooks/threadline",
      THREADLINE_WEBHOOK_SECRET: "new, old",
      THREADLINE_WEBHOOK_MAX_ATTEMPTS: "3",
      THREADLINE_WEBHOOK_BACKOFF_MS: "100",
      THREADLINE_NOTIFY_OPEN_URL: "https://shop.example/chat/{session}",
    });
    expect(config.vapid).toBeUndefined();
    expect(config.webhook).toMatchObject({
      secrets: ["new", "old"],
      maxAttempts: 3,
      backoffMs: 100,
      backoffMaxMs: 60_000,
    });
    expect(config.openUrl).toBe("https://shop.example/chat/{session}");
  });

  it.each([
    ["nothing to deliver", {}, /nothing to deliver/],
    ["half a VAPID configuration", { THREADLINE_VAPID_PUBLIC_KEY: vapid.publicKey }, /go together/],
    [
      "a VAPID subject that is not mailto:/https:",
      { ...push, THREADLINE_VAPID_SUBJECT: "ops@example.com" },
      /mailto: or https:/,
    ],
    ["a VAPID key of the wrong size", { ...push, THREADLINE_VAPID_PRIVATE_KEY: "AAAA" }, /THREADLINE_VAPID_/],
    [
      "a webhook without a secret",
      { THREADLINE_WEBHOOK_URL: "https://app.example/h" },
      /needs THREADLINE_WEBHOOK_SECRET/,
    ],
    [
      "a webhook URL that is not http(s)",
      { THREADLINE_WEBHOOK_URL: "ftp://x", THREADLINE_WEBHOOK_SECRET: "s" },
      /http\(s\) URL/,
    ],
    [
      "a delay not below the max age",
      { ...push, THREADLINE_NOTIFY_DELAY_MS: "5000", THREADLINE_NOTIFY_MAX_AGE_MS: "5000" },
      /below/,
    ],
    ["an open URL that is not a URL", { ...push, THREADLINE_NOTIFY_OPEN_URL: "chat/{session}" }, /OPEN_URL/],
    ["a port out of range", { ...push, THREADLINE_NOTIFIER_PORT: "70000" }, /THREADLINE_NOTIFIER_PORT/],
  ])("refuses %s", (_name, env, expected) => {
    expect(problems(env as Record<string, string>).join("\n")).toMatch(expected);
  });

  it("lists every problem at once", () => {
    expect(problems({ THREADLINE_NOTIFY_USER_RATE: "0", THREADLINE_STREAM: "a.b" })).toHaveLength(3);
  });
});
