import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as client from "./index.ts";
import { CloseCode, ErrorCode, type SessionHandle, type ThreadlineClient, ThreadlineError } from "./index.ts";
import { testClient } from "./test-support/client-fixture.ts";
import { FakeGateway } from "./test-support/fake-gateway.ts";

const README = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8");

/** `[module, name]` for every name a README example imports from `@threadline/client` (or a subpath). */
function readmeImports(): [string, string][] {
  const imports = [...README.matchAll(/^import\s+\{([^}]*)\}\s+from\s+"(@threadline\/client[^"]*)";/gm)];
  return imports.flatMap(([, names = "", module = ""]) =>
    names
      .split(",")
      .map((n) => n.trim())
      .filter((n) => n && !n.startsWith("type "))
      .map((name): [string, string] => [module, name]),
  );
}

const modules: Record<string, () => Promise<Record<string, unknown>>> = {
  "@threadline/client": () => import("./index.ts"),
  "@threadline/client/ai-sdk": () => import("./ai-sdk/index.ts"),
  "@threadline/client/tanstack": () => import("./tanstack/index.ts"),
  "@threadline/client/service-worker": () => import("./service-worker/index.ts"),
};

// Regression (issue 14): the README told apps to branch on error codes, but the client exported no ThreadlineError/ErrorCode.
describe("the public entry", () => {
  it("finds the README's imports (the check below is not vacuous)", () => {
    expect(readmeImports()).toEqual(
      expect.arrayContaining([
        ["@threadline/client", "ErrorCode"],
        ["@threadline/client", "createClient"],
      ]),
    );
  });

  it.each(readmeImports())("%s exports %s, as the README imports it", async (module, name) => {
    const load = modules[module];
    expect(load, `unknown module ${module}`).toBeDefined();
    expect((await load!())[name]).toBeDefined();
  });

  it("exports the error class the client really throws, and the code tables", async () => {
    expect(client.ErrorCode.INSUFFICIENT_STATE).toBe("INSUFFICIENT_STATE");
    expect(client.CloseCode.TOKEN_EXPIRED).toBe(4501);
    expect(client.isRetryableClose(client.CloseCode.TOKEN_EXPIRED)).toBe(false);
    const gw = await FakeGateway.start();
    const { client: c } = testClient(gw.url);
    const error = await c.attach("s1", { from: "yesterday" as never }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ThreadlineError);
    expect((error as ThreadlineError).code).toBe(ErrorCode.INVALID_POSITION);
  });
});

/** The README's "Branching on errors" example, type-checked against the real exports (never called). */
export async function readmeErrorExample(
  chat: SessionHandle,
  c: ThreadlineClient,
  text: string,
  app: { rebuildFromStart(): Promise<void>; showTooLong(): void; redirectToLogin(): void },
): Promise<void> {
  const { rebuildFromStart, showTooLong, redirectToLogin } = app;
  chat.onError((error) => {
    if (error.code === ErrorCode.INSUFFICIENT_STATE) void rebuildFromStart(); // attach(id, { from: "start" })
  });
  try {
    await chat.publish({ type: "input", data: { text } });
  } catch (e) {
    if (e instanceof ThreadlineError && e.code === ErrorCode.EVENT_TOO_LARGE) showTooLong();
    else throw e;
  }
  c.onStatus((s) => {
    if (s.type === "closed" && s.code === CloseCode.TOKEN_EXPIRED) redirectToLogin();
  });
}

/** The README's "Shared state" example, type-checked against the real exports (never called). */
export async function readmeStateExample(
  shop: SessionHandle,
  app: { render(value: unknown): void; reloadAndRetry(): void; log(object: string, value: unknown): void },
): Promise<void> {
  const cart = shop.state<{ items: { sku: string; qty: number }[] }>("cart");
  cart.get()?.items.at(0)?.qty;
  cart.subscribe(({ value, version, updatedBy, seq }) => app.render([value, version, updatedBy, seq]));
  await shop.state("page").set([], { product: "sku-42" });
  await cart.insert("items", { sku: "sku-42", qty: 1 });
  await cart.increment(["items", 0, "qty"]);
  await cart.merge({ coupon: "SPRING" });
  await cart.remove("items", 0);
  await cart.delete("coupon");
  try {
    await cart.set("note", "gift", { ifVersion: cart.version });
  } catch (e) {
    if (e instanceof ThreadlineError && e.code === ErrorCode.STATE_CONFLICT) app.reloadAndRetry();
  }
  shop.states();
  shop.onStateChange(({ object, value }) => app.log(object, value));
}
