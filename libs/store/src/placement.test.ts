import { JetStreamApiError } from "@nats-io/jetstream";
import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { placementPending, whilePlacing } from "./placement.ts";

const noPeers = () =>
  new JetStreamApiError({ code: 400, err_code: 10005, description: "no suitable peers for placement, peer offline" });
const unavailable = () =>
  new JetStreamApiError({ code: 503, err_code: 10008, description: "JetStream system temporarily unavailable" });
const badRequest = () => new JetStreamApiError({ code: 400, err_code: 10003, description: "bad request" });

describe("placementPending (pure)", () => {
  it.each([
    ["no suitable peers", noPeers(), true],
    ["temporarily unavailable", unavailable(), true],
    ["a bad request", badRequest(), false],
    ["not a JetStream error", new Error("boom"), false],
  ])("%s → %s", (_, error, pending) => {
    expect(placementPending(error)).toBe(pending);
  });
});

describe("whilePlacing", () => {
  it("repeats a create the cluster cannot place yet until it succeeds", async () => {
    const failures = [noPeers(), unavailable()];
    let calls = 0;
    const result = await whilePlacing(
      "stream S",
      async () => {
        calls++;
        const failure = failures.shift();
        if (failure) throw failure;
        return "created";
      },
      5000,
    );
    expect(result).toBe("created");
    expect(calls).toBe(3);
  });

  it("throws any other error at once", async () => {
    let calls = 0;
    const error = badRequest();
    await expect(
      whilePlacing(
        "stream S",
        async () => {
          calls++;
          throw error;
        },
        5000,
      ),
    ).rejects.toBe(error);
    expect(calls).toBe(1);
  });

  it("gives up at the deadline with UNAVAILABLE naming what and why, the last placement error as cause", async () => {
    let calls = 0;
    const started = Date.now();
    const error = await whilePlacing(
      "stream S",
      async () => {
        calls++;
        throw noPeers();
      },
      300,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ThreadlineError);
    expect(error).toMatchObject({ code: ErrorCode.UNAVAILABLE, cause: { code: 10005 } });
    expect((error as Error).message).toMatch(/^stream S: .*0\.3 s \(no suitable peers.*meta group/);
    expect(calls).toBeGreaterThan(1);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
