import { describe, expect, it } from "vitest";
import { DEFAULT_PUSH_ALLOWED_HOSTS, pushHostAllowed, pushHostPatternProblem } from "./push-host.ts";

describe("pushHostAllowed (pure)", () => {
  const defaults = DEFAULT_PUSH_ALLOWED_HOSTS;
  it.each([
    ["Chrome's FCM endpoint", "https://fcm.googleapis.com/fcm/send/abc:def", defaults, true],
    ["Firefox's autopush", "https://updates.push.services.mozilla.com/wpush/v2/gAAA", defaults, true],
    ["Windows WNS", "https://db5p.notify.windows.com/w/?token=x", defaults, true],
    ["Safari (web.push.apple.com)", "https://web.push.apple.com/QGx", defaults, true],
    ["an apple subdomain", "https://api.push.apple.com/3/device/x", defaults, true],
    ["a host with a port", "https://fcm.googleapis.com:443/fcm/send/a", defaults, true],
    ["upper case and a trailing dot", "https://FCM.GoogleAPIs.com./fcm/send/a", defaults, true],
    ["the wildcard's own name", "https://push.services.mozilla.com/x", defaults, false],
    ["a look-alike suffix", "https://evilpush.services.mozilla.com/x", defaults, false],
    ["a look-alike prefix", "https://fcm.googleapis.com.evil.example/x", defaults, false],
    ["an internal address", "https://10.0.0.5/admin", defaults, false],
    ["loopback", "https://127.0.0.1:4000/push/1", defaults, false],
    ["loopback when listed", "https://127.0.0.1:4000/push/1", ["127.0.0.1"], true],
    ["a hex IPv4 form of a listed address", "https://0x7f.1:4000/push/1", ["127.0.0.1"], true],
    ["IPv6 loopback when listed", "https://[::1]:4000/push/1", ["[::1]"], true],
    ["IPv6 loopback when not listed", "https://[::1]:4000/push/1", defaults, false],
    ["a userinfo trick", "https://fcm.googleapis.com@10.0.0.5/x", defaults, false],
    ["not a URL", "fcm.googleapis.com/fcm/send/a", defaults, false],
    ["another scheme", "ftp://fcm.googleapis.com/x", defaults, false],
    ["an empty list", "https://fcm.googleapis.com/x", [], false],
  ])("%s", (_name, endpoint, patterns, expected) => {
    expect(pushHostAllowed(endpoint, patterns)).toBe(expected);
  });
});

describe("pushHostPatternProblem (pure)", () => {
  it.each([
    ["fcm.googleapis.com", undefined],
    ["*.push.apple.com", undefined],
    ["Web.Push.Apple.com", undefined],
    ["127.0.0.1", undefined],
    ["localhost", undefined],
    ["[::1]", undefined],
    ["*", /not a host name/],
    ["*.com", /at least two labels/],
    ["*.*.apple.com", /at least two labels/],
    ["push.apple.com:443", /not a host name/],
    ["https://push.apple.com", /not a host name/],
    ["-bad.example.com", /not a host name/],
    ["", /not a host name/],
  ])("%j", (pattern, expected) => {
    const problem = pushHostPatternProblem(pattern);
    if (expected === undefined) expect(problem).toBeUndefined();
    else expect(problem).toMatch(expected);
  });

  it("accepts every default", () => {
    for (const pattern of DEFAULT_PUSH_ALLOWED_HOSTS) expect(pushHostPatternProblem(pattern)).toBeUndefined();
  });
});
