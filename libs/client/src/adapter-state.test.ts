import { describe, expect, it } from "vitest";
import { ThreadlineChatTransport } from "./ai-sdk/chat-transport.ts";
import { threadlineConnection } from "./tanstack/connection.ts";
import { pendingAttach } from "./test-support/attached-session.ts";
import { appliedSeq } from "./test-support/client-fixture.ts";

describe("shared state through the adapters", () => {
  it("the AI SDK transport and the TanStack connection hand out the session's state handles", async () => {
    const { conn, attaching } = await pendingAttach();
    // Built before the attach resolved: the accessors wait for the session handle.
    const transport = new ThreadlineChatTransport({ session: attaching });
    const connection = threadlineConnection({ session: attaching });
    const page = transport.state("page");
    const attach = await conn.take("attach");
    conn.answerAttach(attach, "e1", 2, {
      page: { value: { product: "A-1" }, version: 2, updatedBy: { kind: "user", id: "u2" } },
    });
    const session = await attaching;

    expect(await page).toBe(session.state("page"));
    expect((await page).get()).toEqual({ product: "A-1" });
    const cart = await connection.state("cart");
    expect(cart).toBe(session.state("cart"));
    const seen: unknown[] = [];
    cart.subscribe(({ value }) => seen.push(value));
    conn.stateEvent("s1", 3, { object: "cart", op: "insert", path: ["items"], value: "A-1" });
    await appliedSeq(session, 3);
    expect(seen).toEqual([{ items: ["A-1"] }]);
    transport.close();
    connection.close();
  });
});
