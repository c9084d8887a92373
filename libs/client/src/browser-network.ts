const noop = () => {};

/**
 * The browser says it has no network (`navigator.onLine` false); never true
 * outside browsers (Node has no `navigator.onLine`).
 */
export function browserOffline(): boolean {
  return (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine === false;
}

/**
 * Calls `fn` once on the browser's `online` event (at once where there is no
 * such event); returns the function that cancels it.
 * @example const cancel = whenOnline(() => reconnect());
 */
export function whenOnline(fn: () => void): () => void {
  const target = globalThis as {
    addEventListener?: EventTarget["addEventListener"];
    removeEventListener?: EventTarget["removeEventListener"];
  };
  if (typeof target.addEventListener !== "function") {
    fn();
    return noop;
  }
  const listener = () => fn();
  target.addEventListener("online", listener, { once: true });
  return () => target.removeEventListener?.("online", listener);
}
