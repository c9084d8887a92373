import type { JsonValue, StateHandle } from "@threadline/agent";
import { emptySessionState, type SessionState, type StateOp, stepState } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { findProduct, PRODUCTS } from "../catalog.ts";
import { asCart, asChecklist, asPage, CHECKLIST_OBJECT } from "../shop-state.ts";
import { Checklist } from "./checklist.ts";
import { stockReply } from "./triage.ts";

/**
 * A session's shared state folded by the protocol's own `stepState`, with
 * handles whose writes apply at once as agent `orders` — enough to check
 * what the checklist writes, without a broker.
 */
function fakeSession() {
  let state: SessionState = emptySessionState();
  const write = async (op: StateOp): Promise<number> => {
    const seq = state.seq + 1;
    const step = stepState(state, {
      seq,
      event: { id: `e${seq}`, type: "state", from: { kind: "agent", id: "orders" }, data: op, time: 0 },
    } as never);
    if (step.outcome !== "applied") throw new Error(String(step.outcome));
    state = step.state;
    return seq;
  };
  const path = (p: readonly (string | number)[] | string) => (typeof p === "string" ? [p] : [...p]);
  const handle = (object: string) =>
    ({
      name: object,
      get: () => state.objects[object]?.value,
      set: (p: string[], value: JsonValue) => write({ object, op: "set", path: path(p), value }),
    }) as unknown as StateHandle<JsonValue>;
  return {
    ctx: (turn: string) => ({ turn, state: async (name: string) => handle(name) }) as never,
    checklist: () => asChecklist(state.objects[CHECKLIST_OBJECT]?.value),
  };
}

describe("the product a request is about", () => {
  it("is the one the text names, else the one on the customer's page, else the first", () => {
    expect(findProduct("is the Nimbus laptop in stock?", "HP-700").sku).toBe("LP-14");
    expect(findProduct("is this one in stock?", "HP-700").sku).toBe("HP-700");
    expect(findProduct("is this one in stock?", "NOPE").sku).toBe(PRODUCTS[0]!.sku);
    expect(findProduct("is this one in stock?").sku).toBe(PRODUCTS[0]!.sku);
  });

  it("the stock answer names the product and says it came from the page and the cart", () => {
    const pulse = PRODUCTS.find((p) => p.sku === "HP-700")!;
    expect(stockReply(pulse, true, 2)).toMatch(
      /^The Pulse wireless headphones you are looking at \(HP-700, \$149\) is in stock: we have 31 .* You already have 2 in your cart\./,
    );
    expect(stockReply(pulse, false)).not.toMatch(/looking at|cart/);
  });
});

describe("shared state values from the page", () => {
  it("are read defensively: malformed values give nothing rather than a crash", () => {
    expect(asPage({ sku: "HP-700", name: "Pulse" })).toEqual({ sku: "HP-700", name: "Pulse" });
    expect(asPage({ sku: 7 })).toBeUndefined();
    expect(asCart({ items: [{ sku: "A", name: "a", price: 1, qty: 2 }, { sku: "B" }, null] }).items).toHaveLength(1);
    expect(asCart("nonsense")).toEqual({ items: [] });
    expect(asChecklist({ turn: "t" })).toBeUndefined();
  });
});

describe("Checklist", () => {
  const items = [
    { id: "stock", label: "Check stock" },
    { id: "payment", label: "Charge" },
    { id: "email", label: "Email" },
  ];

  it("publishes the plan as pending, then follows each item, then ends done", async () => {
    const session = fakeSession();
    const list = await Checklist.start(session.ctx("t1"), "Buying", items);
    expect(session.checklist()).toEqual({
      turn: "t1",
      title: "Buying",
      status: "running",
      items: items.map((i) => ({ ...i, status: "pending" })),
    });
    await list.mark("stock", "done");
    await list.mark("payment", "running");
    await list.mark("unknown", "done");
    expect(session.checklist()!.items.map((i) => i.status)).toEqual(["done", "running", "pending"]);
    await list.finish("done");
    expect(session.checklist()!.status).toBe("done");
  });

  it("a cancelled list marks what had not finished skipped", async () => {
    const session = fakeSession();
    const list = await Checklist.start(session.ctx("t1"), "Buying", items);
    await list.mark("stock", "done");
    await list.mark("payment", "running");
    await list.finish("cancelled");
    expect(session.checklist()!.items.map((i) => i.status)).toEqual(["done", "skipped", "skipped"]);
    expect(session.checklist()!.status).toBe("cancelled");
  });

  it("an older purchase stops writing once a newer one replaced the list (steps never mix)", async () => {
    const session = fakeSession();
    const older = await Checklist.start(session.ctx("t1"), "First", items);
    await Checklist.start(session.ctx("t2"), "Second", items);
    await older.mark("stock", "done");
    await older.finish("done");
    expect(session.checklist()).toMatchObject({ turn: "t2", title: "Second", status: "running" });
    expect(session.checklist()!.items.every((i) => i.status === "pending")).toBe(true);
  });
});
