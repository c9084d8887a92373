import { afterEach, describe, expect, it } from "vitest";
import { testClient } from "./test-support/client-fixture.ts";
import { FakeGateway } from "./test-support/fake-gateway.ts";

// The attach frame's `history` (PROTOCOL.md §8.5): full (the wire default) unless compact is asked for, on every platform.
// Regression (issue 14): browsers used to get compact by default and Node full, silently.

const g = globalThis as { window?: unknown; document?: unknown };
afterEach(() => {
  delete g.window;
  delete g.document;
});

async function attachFrame(options: { history?: "compact" | "full" }, browser: boolean) {
  if (browser) {
    g.window = {};
    g.document = {};
  }
  const gw = await FakeGateway.start();
  const { client } = testClient(gw.url);
  void client.attach("s1", options).catch(() => {});
  const conn = await gw.nextConnection();
  await conn.welcome({ user: "alice" });
  return conn.take("attach");
}

describe("attach history", () => {
  it("Node: no history field (full) unless compact is asked for", async () => {
    expect(await attachFrame({}, false)).not.toHaveProperty("history");
    expect(await attachFrame({ history: "compact" }, false)).toMatchObject({ history: "compact" });
  });

  it("browser: the same default as Node (full), compact on request", async () => {
    expect(await attachFrame({}, true)).toMatchObject({ op: "attach", session: "s1" });
    expect(await attachFrame({}, true)).not.toHaveProperty("history");
    expect(await attachFrame({ history: "compact" }, true)).toMatchObject({ history: "compact" });
    expect(await attachFrame({ history: "full" }, true)).not.toHaveProperty("history");
  });

  it("refuses an unknown history mode with INVALID_FRAME", async () => {
    const gw = await FakeGateway.start();
    const { client } = testClient(gw.url);
    await expect(client.attach("s1", { history: "partial" as never })).rejects.toMatchObject({
      code: "INVALID_FRAME",
    });
  });
});
