import { createPublicKey, verify } from "node:crypto";

/** The claims of a verified VAPID JWT (RFC 8292). */
export interface VapidClaims {
  /** The application server's public key from `k=` (base64url, uncompressed P-256). */
  publicKey: string;
  aud: string;
  /** Seconds since the epoch. */
  exp: number;
  /** Contact (`mailto:` or `https:`), when given. */
  sub: string | undefined;
}

/** A missing or invalid VAPID `Authorization` header; the push service answers 401 (RFC 8292 §4). */
export class VapidError extends Error {
  override readonly name = "VapidError";
}

/** RFC 8292 §2: "exp" no more than 24 hours after the request. */
const MAX_EXP_SECONDS = 24 * 60 * 60;

/**
 * Verifies `Authorization: vapid t=<JWT>, k=<public key>` (RFC 8292 §3):
 * an ES256 JWT signed with the private key of `k`, `aud` = the push
 * resource's origin, `exp` in the future and at most 24 h ahead.
 */
export function verifyVapid(authorization: string | undefined, origin: string, nowMs = Date.now()): VapidClaims {
  if (authorization === undefined) throw new VapidError("missing Authorization header");
  const match = /^vapid\s+(.*)$/i.exec(authorization.trim());
  if (match === null) throw new VapidError("Authorization scheme is not vapid");
  const params = new Map<string, string>();
  for (const part of (match[1] ?? "").split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const token = params.get("t");
  const publicKey = params.get("k");
  if (token === undefined || publicKey === undefined) throw new VapidError("vapid needs both t= and k=");

  const [headerPart, payloadPart, signaturePart, ...rest] = token.split(".");
  if (headerPart === undefined || payloadPart === undefined || signaturePart === undefined || rest.length > 0) {
    throw new VapidError("t= is not a JWS compact serialization");
  }
  const header = parseJson(headerPart, "JWT header") as { alg?: unknown };
  if (header.alg !== "ES256") throw new VapidError(`JWT alg ${String(header.alg)} is not ES256`);

  const raw = Buffer.from(publicKey, "base64url");
  if (raw.length !== 65 || raw[0] !== 4) throw new VapidError("k= is not an uncompressed P-256 public key");
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = createPublicKey({
      format: "jwk",
      key: {
        kty: "EC",
        crv: "P-256",
        x: raw.subarray(1, 33).toString("base64url"),
        y: raw.subarray(33).toString("base64url"),
      },
    });
  } catch (cause) {
    throw new VapidError("k= is not a point on P-256", { cause });
  }
  const signature = Buffer.from(signaturePart, "base64url");
  const signed = verify(
    "sha256",
    Buffer.from(`${headerPart}.${payloadPart}`),
    { key, dsaEncoding: "ieee-p1363" },
    signature,
  );
  if (!signed) throw new VapidError("JWT signature does not verify with k=");

  const claims = parseJson(payloadPart, "JWT claims") as { aud?: unknown; exp?: unknown; sub?: unknown };
  if (claims.aud !== origin)
    throw new VapidError(`JWT aud ${String(claims.aud)} is not the push resource's origin ${origin}`);
  if (typeof claims.exp !== "number") throw new VapidError("JWT has no numeric exp");
  const now = nowMs / 1000;
  if (claims.exp <= now) throw new VapidError(`JWT expired at ${claims.exp} (now ${Math.floor(now)})`);
  if (claims.exp > now + MAX_EXP_SECONDS) throw new VapidError("JWT exp is more than 24 hours ahead");
  return { publicKey, aud: claims.aud, exp: claims.exp, sub: typeof claims.sub === "string" ? claims.sub : undefined };
}

function parseJson(part: string, what: string): unknown {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    if (typeof value === "object" && value !== null) return value;
  } catch {
    // fall through to the typed error
  }
  throw new VapidError(`${what} is not base64url JSON`);
}
