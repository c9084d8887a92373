import { describe, expect, it } from "vitest";
import { corsHeaders, isAllowedOrigin } from "./cors.ts";

describe("cors", () => {
  const allowed = ["https://app.example.com", "http://localhost:5173"];

  it("allows listed origins exactly (a trailing slash is ignored), and any origin when no list is set", () => {
    expect(isAllowedOrigin("https://app.example.com", allowed)).toBe(true);
    expect(isAllowedOrigin("https://app.example.com/", allowed)).toBe(true);
    expect(isAllowedOrigin("https://evil.example.com", allowed)).toBe(false);
    expect(isAllowedOrigin("http://app.example.com", allowed)).toBe(false);
    expect(isAllowedOrigin("http://localhost:5174", allowed)).toBe(false);
    expect(isAllowedOrigin("https://anything.test", undefined)).toBe(true);
    // No Origin header: not a browser's cross-origin request.
    expect(isAllowedOrigin("", undefined)).toBe(false);
  });

  it("echoes an allowed origin, never *, and always varies on Origin", () => {
    expect(corsHeaders("http://localhost:5173", allowed)).toEqual([
      ["vary", "Origin"],
      ["access-control-allow-origin", "http://localhost:5173"],
    ]);
    expect(corsHeaders("https://evil.example.com", allowed)).toEqual([["vary", "Origin"]]);
    expect(corsHeaders("", allowed)).toEqual([["vary", "Origin"]]);
  });
});
