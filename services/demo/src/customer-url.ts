/**
 * The customer view's address, shared by the page (which reads it, and
 * rewrites it when it switches session) and the service worker (which opens
 * it from a notification): `/?session=<id>[&user=<id>]`. Everything not under
 * `/operator` is the customer view.
 */

/** The user of a customer view whose URL names none (what `npm start`'s notifications are for). */
export const DEFAULT_CUSTOMER = "customer";

/**
 * The customer view of `session` for `user` (a path with query; `user` left
 * out when it is the default).
 * @example customerPath("support-1a2b", "alice") // "/?session=support-1a2b&user=alice"
 */
export function customerPath(session: string, user: string): string {
  const query = new URLSearchParams({ session });
  if (user !== DEFAULT_CUSTOMER) query.set("user", user);
  return `/?${query}`;
}

/** What a URL of the app shows when it is the customer view: its session (when named) and user; undefined otherwise. */
export function readCustomerUrl(url: URL): { session: string | undefined; user: string } | undefined {
  if (url.pathname.startsWith("/operator")) return undefined;
  return {
    session: url.searchParams.get("session") ?? undefined,
    user: url.searchParams.get("user") ?? DEFAULT_CUSTOMER,
  };
}
