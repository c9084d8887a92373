/**
 * The demo's shared state objects (PROTOCOL.md §19): what the shop page and
 * the agents read and write together in a customer's session. The page
 * writes `page` and `cart` through `session.state(...)`; the agents read them
 * at turn start (`ctx.state(...)`); the order agent writes `agent-checklist`
 * (an `agent-…` object: users cannot write it, every device and the operator
 * console see it).
 */

/** The product the customer is looking at. */
export const PAGE_OBJECT = "page";
export interface PageState {
  sku: string;
  name: string;
}

/** The customer's cart. */
export const CART_OBJECT = "cart";
export interface CartItem {
  sku: string;
  name: string;
  price: number;
  qty: number;
}
export interface CartState {
  items: CartItem[];
}

/** The order agent's checklist of the latest purchase. */
export const CHECKLIST_OBJECT = "agent-checklist";
export type ChecklistStatus = "pending" | "running" | "done" | "failed" | "skipped";
export interface ChecklistItem {
  id: string;
  label: string;
  status: ChecklistStatus;
}
export interface ChecklistState {
  /** The purchase's turn. */
  turn: string;
  title: string;
  status: "running" | "done" | "failed" | "cancelled";
  items: ChecklistItem[];
}

/** Reads a `page` value defensively (any participant allowed to write it may write anything). */
export function asPage(value: unknown): PageState | undefined {
  const v = value as Partial<PageState> | undefined;
  return v && typeof v.sku === "string" && typeof v.name === "string" ? { sku: v.sku, name: v.name } : undefined;
}

/** Reads a `cart` value defensively: the well-formed items only. */
export function asCart(value: unknown): CartState {
  const items = (value as { items?: unknown } | undefined)?.items;
  if (!Array.isArray(items)) return { items: [] };
  return {
    items: items.filter(
      (i): i is CartItem =>
        !!i &&
        typeof i === "object" &&
        typeof i.sku === "string" &&
        typeof i.name === "string" &&
        typeof i.price === "number" &&
        typeof i.qty === "number",
    ),
  };
}

/** Reads an `agent-checklist` value (written by agents only, still checked: the page must not crash). */
export function asChecklist(value: unknown): ChecklistState | undefined {
  const v = value as Partial<ChecklistState> | undefined;
  if (!v || typeof v.turn !== "string" || typeof v.title !== "string" || !Array.isArray(v.items)) return undefined;
  return v as ChecklistState;
}
