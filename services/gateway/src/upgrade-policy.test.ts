import { CloseCode } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { admitUpgrade, type UpgradePolicy } from "./upgrade-policy.ts";

const open: UpgradePolicy = { allowedOrigins: undefined, allowQueryToken: false };
const strict: UpgradePolicy = { allowedOrigins: ["https://app.example.com"], allowQueryToken: false };
const req = (r: Partial<{ origin: string; authorization: string; queryToken: string }>) => ({
  origin: "",
  authorization: "",
  queryToken: "",
  ...r,
});

describe("admitUpgrade", () => {
  it("accepts any origin without an allow-list, and takes a bearer token", () => {
    expect(admitUpgrade(req({ origin: "https://evil.example", authorization: "Bearer abc.def" }), open)).toEqual({
      ok: true,
      token: "abc.def",
    });
    expect(admitUpgrade(req({}), open)).toEqual({ ok: true, token: undefined });
  });

  it("refuses an origin not on the allow-list with 4504; no Origin header (non-browser) passes", () => {
    expect(admitUpgrade(req({ origin: "https://evil.example" }), strict)).toMatchObject({
      ok: false,
      code: CloseCode.FORBIDDEN_ORIGIN,
    });
    expect(admitUpgrade(req({ origin: "https://app.example.com" }), strict)).toMatchObject({ ok: true });
    expect(admitUpgrade(req({ origin: "https://app.example.com.evil.example" }), strict)).toMatchObject({ ok: false });
    expect(admitUpgrade(req({}), strict)).toMatchObject({ ok: true });
  });

  it("refuses a token in the query string unless enabled", () => {
    expect(admitUpgrade(req({ queryToken: "t" }), open)).toMatchObject({ ok: false, code: CloseCode.AUTH_FAILED });
    expect(admitUpgrade(req({ queryToken: "t" }), { ...open, allowQueryToken: true })).toEqual({
      ok: true,
      token: "t",
    });
  });

  it("ignores a malformed Authorization header", () => {
    expect(admitUpgrade(req({ authorization: "Basic abc" }), open)).toEqual({ ok: true, token: undefined });
  });
});
