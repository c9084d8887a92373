import { CloseCode } from "@threadline/protocol";
import { isAllowedOrigin } from "./cors.ts";

/** What the WebSocket upgrade request carried that matters for admission. */
export interface UpgradeRequest {
  /** The `Origin` header ("" when absent: non-browser clients do not send it). */
  origin: string;
  /** The `Authorization` header ("" when absent). */
  authorization: string;
  /** `access_token` (or `token`) from the query string ("" when absent). */
  queryToken: string;
}

export interface UpgradePolicy {
  /** Exact origins allowed, or undefined to accept any origin. */
  allowedOrigins: readonly string[] | undefined;
  /** Whether a token in the query string is accepted. */
  allowQueryToken: boolean;
}

/**
 * The admission decision for one upgrade: either the token the upgrade
 * carried (if any), or a refusal with the close code the socket gets right
 * after it opens. Refusing with a close code instead of an HTTP status lets
 * a browser client see *why* (a failed upgrade only shows as 1006, which
 * clients retry forever); both refusals are terminal codes.
 */
export type UpgradeDecision =
  | { ok: true; token: string | undefined }
  | { ok: false; code: number; reason: string; metric: "forbidden_origin" | "query_token" };

export function admitUpgrade(request: UpgradeRequest, policy: UpgradePolicy): UpgradeDecision {
  if (request.origin !== "" && !isAllowedOrigin(request.origin, policy.allowedOrigins)) {
    return { ok: false, code: CloseCode.FORBIDDEN_ORIGIN, reason: "origin not allowed", metric: "forbidden_origin" };
  }
  if (request.queryToken !== "" && !policy.allowQueryToken) {
    return {
      ok: false,
      code: CloseCode.AUTH_FAILED,
      reason: "tokens in the URL are refused; send it in hello or an Authorization header",
      metric: "query_token",
    };
  }
  const bearer = /^bearer\s+(\S+)\s*$/i.exec(request.authorization)?.[1];
  if (bearer) return { ok: true, token: bearer };
  return { ok: true, token: request.queryToken !== "" ? request.queryToken : undefined };
}
