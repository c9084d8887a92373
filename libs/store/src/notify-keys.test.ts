import { describe, expect, it } from "vitest";
import { checkTriggerKey } from "./notification-claims.ts";
import {
  burstMarkKey,
  deadLetterKey,
  notificationClaimKey,
  notificationId,
  notifyKeyToken,
  rateKey,
} from "./notify-keys.ts";

describe("notify bucket keys", () => {
  const long = "x".repeat(128);

  it.each([
    ["a token", "s1", "s1"],
    ["64 characters", "a".repeat(64), "a".repeat(64)],
    ["65 characters", "a".repeat(65), /^h=[A-Za-z0-9_-]{22}$/],
    ["not a token (an opaque epoch)", "ab.c", /^h=[A-Za-z0-9_-]{22}$/],
    ["empty", "", /^h=[A-Za-z0-9_-]{22}$/],
  ])("token of %s", (_name, id, expected) => {
    if (typeof expected === "string") expect(notifyKeyToken(id)).toBe(expected);
    else expect(notifyKeyToken(id)).toMatch(expected);
  });

  it("hashed tokens differ per id and are stable", () => {
    expect(notifyKeyToken(`${long}a`)).not.toBe(notifyKeyToken(`${long}b`));
    expect(notifyKeyToken(long)).toBe(notifyKeyToken(long));
  });

  it("a notification's id, claim keys and dead letter key", () => {
    const id = notificationId({ epoch: "0abc", session: "s1", seq: 42, user: "u1" });
    expect(id).toBe("n.0abc.s1.42.u1");
    expect(notificationClaimKey(id, "push")).toBe("n.0abc.s1.42.u1.push");
    expect(deadLetterKey(notificationClaimKey(id, "hook"))).toBe("dead.n.0abc.s1.42.u1.hook");
    expect(() => notificationId({ epoch: "e", session: "s", seq: 0, user: "u" })).toThrow(RangeError);
  });

  it("the longest ids still give valid keys (≤ 256 characters)", () => {
    const id = notificationId({ epoch: "e".repeat(64), session: long, seq: 2 ** 53 - 1, user: long });
    for (const key of [
      deadLetterKey(notificationClaimKey(id, "hook")),
      burstMarkKey(long, long),
      rateKey(long, 2 ** 40),
    ]) {
      expect(() => checkTriggerKey(key)).not.toThrow();
    }
  });

  it("mark and rate keys", () => {
    expect(burstMarkKey("s1", "u1")).toBe("m.s1.u1");
    expect(rateKey("u1", 29_000_000)).toBe("r.u1.29000000");
    expect(() => rateKey("u1", -1)).toThrow(RangeError);
  });
});
