import { ErrorCode, type StateObject } from "@threadline/protocol";
import { PRODUCTS, type Product } from "../catalog.ts";
import { asCart, asPage, CART_OBJECT, type CartItem, PAGE_OBJECT } from "../shop-state.ts";
import type { SessionConnection } from "./use-session.ts";

type Shared = Readonly<Record<string, StateObject>>;

/**
 * The shop beside the chat. What the customer looks at and what is in their
 * cart are shared state objects of the session (`page`, `cart`): every tab
 * shows the same, and the agents read them when a turn starts, so "is this
 * one in stock?" needs no product name.
 */
export function ShopPanel({
  shared,
  writeState,
  children,
}: {
  shared: Shared;
  writeState: SessionConnection["writeState"];
  /** Shown below the cart (the order agent's checklist). */
  children?: React.ReactNode;
}) {
  const viewing = asPage(shared[PAGE_OBJECT]?.value);
  const cart = asCart(shared[CART_OBJECT]?.value);
  const view = (p: Product) => writeState(PAGE_OBJECT, (page) => page.set([], { sku: p.sku, name: p.name }));
  const add = (p: Product) =>
    writeState(CART_OBJECT, (object) => {
      const index = asCart(object.get()).items.findIndex((i) => i.sku === p.sku);
      // Increments and list inserts never lose a concurrent change from another tab (PROTOCOL.md §19.3).
      return index >= 0
        ? object.increment(["items", index, "qty"])
        : object.insert("items", { sku: p.sku, name: p.name, price: p.price, qty: 1 });
    });
  // Compare-and-set: a remove by index must not hit another line if another tab changed the cart meanwhile
  // (then nothing is removed anywhere, and the customer sees the new cart and can click again).
  const removeAt = (index: number) =>
    writeState(CART_OBJECT, (object) =>
      object.remove("items", index, { ifVersion: object.version }).catch((e: unknown) => {
        if ((e as { code?: unknown }).code !== ErrorCode.STATE_CONFLICT) throw e;
      }),
    );
  return (
    <aside className="shop" data-testid="shop">
      <div className="viewing" data-testid="viewing" data-sku={viewing?.sku ?? ""}>
        {viewing ? (
          <>
            Viewing <strong>{viewing.name}</strong>
          </>
        ) : (
          "Pick a product to view"
        )}
      </div>
      <ul className="products">
        {PRODUCTS.map((p) => (
          <li
            key={p.sku}
            className={`product ${viewing?.sku === p.sku ? "viewing" : ""}`}
            data-testid="product"
            data-sku={p.sku}
            data-viewing={viewing?.sku === p.sku}
          >
            <button type="button" className="product-view" data-testid="view-product" onClick={() => view(p)}>
              <span className="name">{p.name}</span>
              <span className="price">${p.price}</span>
            </button>
            <button
              type="button"
              className="ghost add"
              data-testid="add-to-cart"
              title={`Add the ${p.name} to the cart`}
              onClick={() => add(p)}
            >
              + Cart
            </button>
          </li>
        ))}
      </ul>
      <CartView items={cart.items} onRemove={removeAt} />
      {children}
    </aside>
  );
}

function CartView({ items, onRemove }: { items: readonly CartItem[]; onRemove?: (index: number) => void }) {
  const count = items.reduce((n, i) => n + i.qty, 0);
  const total = items.reduce((n, i) => n + i.qty * i.price, 0);
  return (
    <div className="cart" data-testid="cart" data-count={count}>
      <div className="cart-head">
        Cart: {count === 0 ? "empty" : `${count} item${count === 1 ? "" : "s"} · $${total}`}
      </div>
      {items.length > 0 && (
        <ul>
          {items.map((item, index) => (
            // Two tabs adding the same new product at once make two lines (both inserts count): the SKU alone is
            // not unique. The rows hold no state, and × removes by this very index.
            // biome-ignore lint/suspicious/noArrayIndexKey: see above
            <li key={`${index}-${item.sku}`} data-testid="cart-item" data-sku={item.sku} data-qty={item.qty}>
              <span className="name">
                {item.qty} × {item.name}
              </span>
              {onRemove && (
                <button
                  type="button"
                  className="ghost remove"
                  aria-label={`Remove ${item.name}`}
                  onClick={() => onRemove(index)}
                >
                  ×
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** What the operator console shows of the customer's app: the product they look at and their cart (read-only). */
export function CustomerContext({ shared }: { shared: Shared }) {
  const viewing = asPage(shared[PAGE_OBJECT]?.value);
  const cart = asCart(shared[CART_OBJECT]?.value);
  if (!viewing && cart.items.length === 0) return null;
  return (
    <div className="customer-context" data-testid="customer-context">
      <span data-testid="viewing" data-sku={viewing?.sku ?? ""}>
        {viewing ? `Viewing ${viewing.name}` : "Not viewing a product"}
      </span>
      <CartView items={cart.items} />
    </div>
  );
}
