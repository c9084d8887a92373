import { describe, expect, it } from "vitest";
import { TestKitError } from "./errors.ts";
import { waitFor } from "./wait-for.ts";

describe("waitFor", () => {
  it("returns the first truthy value", async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), { intervalMs: 1 });
    expect(value).toEqual({ calls: 3 });
  });

  it("awaits async conditions and treats a throwing attempt as not yet", async () => {
    let calls = 0;
    const value = await waitFor(
      async () => {
        if (++calls < 3) throw new Error("not yet");
        return "done";
      },
      { intervalMs: 1 },
    );
    expect(value).toBe("done");
  });

  it("times out with the message and the last error as cause", async () => {
    const error = await waitFor(
      () => {
        throw new Error("still broken");
      },
      { timeoutMs: 50, intervalMs: 5, message: () => "the thing" },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TestKitError);
    expect((error as TestKitError).code).toBe("TIMEOUT");
    expect((error as Error).message).toMatch(/timed out after \d+ ms: the thing/);
    expect(((error as Error).cause as Error).message).toBe("still broken");
  });

  it("stops when its signal aborts", async () => {
    const controller = new AbortController();
    const waiting = waitFor(() => false, { timeoutMs: 10_000, signal: controller.signal });
    controller.abort(new Error("cancelled"));
    await expect(waiting).rejects.toThrow("cancelled");
  });
});
