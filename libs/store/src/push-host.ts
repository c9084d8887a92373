/**
 * Which push services a device may register an endpoint at: the SSRF defence
 * of offline delivery. A push endpoint is a URL the notifier later POSTs to,
 * chosen by the device, so the gateway refuses endpoints outside an allow
 * list before storing them and the notifier checks again before sending.
 */

/**
 * The browsers' push services (Chrome/Edge via FCM, Firefox, Windows/Edge
 * legacy, Safari): the default of `THREADLINE_PUSH_ALLOWED_HOSTS`.
 */
export const DEFAULT_PUSH_ALLOWED_HOSTS: readonly string[] = Object.freeze([
  "fcm.googleapis.com",
  "*.push.services.mozilla.com",
  "*.notify.windows.com",
  "*.push.apple.com",
  "web.push.apple.com",
]);

const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const IPV6_LITERAL = /^\[[0-9a-f:.]+\]$/;

/**
 * Why `pattern` is not a push host pattern, or undefined when it is. A pattern
 * is a host name or IP literal (`fcm.googleapis.com`, `127.0.0.1`, `[::1]`),
 * or `*.` and a name of at least two labels (`*.push.apple.com`: any host
 * below it, not the name itself). A bare `*` is refused: it would turn the
 * defence off.
 */
export function pushHostPatternProblem(pattern: string): string | undefined {
  const p = pattern.toLowerCase();
  if (p.startsWith("*.")) {
    const suffix = p.slice(2);
    if (!HOSTNAME.test(suffix) || !suffix.includes(".")) {
      return `push host pattern ${JSON.stringify(pattern)}: a wildcard needs a name of at least two labels after "*." (e.g. *.push.apple.com)`;
    }
    return undefined;
  }
  if (HOSTNAME.test(p) || IPV6_LITERAL.test(p)) return undefined;
  return `push host pattern ${JSON.stringify(pattern)} is not a host name, an IP literal or *.<name>`;
}

/**
 * Whether a push endpoint's host is one the deployment allows. Pure. Host
 * names compare case-insensitively after URL parsing (so `https://FCM.googleapis.com.`
 * is `fcm.googleapis.com`; IPv4 forms such as `0x7f.1` are normalized before
 * matching); the port is not restricted; `*.suffix` matches hosts strictly
 * below `suffix`. An endpoint that is not an http(s) URL is never allowed;
 * whether http is acceptable at all is `pushSubscriptionProblem`'s call.
 *
 * @example
 *   pushHostAllowed("https://fcm.googleapis.com/fcm/send/abc", DEFAULT_PUSH_ALLOWED_HOSTS); // true
 *   pushHostAllowed("https://10.0.0.5/admin", DEFAULT_PUSH_ALLOWED_HOSTS); // false
 */
export function pushHostAllowed(endpoint: string, patterns: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return false;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return false;
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  if (host === "") return false;
  return patterns.some((raw) => {
    const pattern = raw.toLowerCase();
    if (pattern.startsWith("*.")) return host.endsWith(pattern.slice(1));
    return host === pattern;
  });
}
