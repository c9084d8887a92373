import { createPublicKey, type KeyObject } from "node:crypto";
import {
  ErrorCode,
  isParticipantId,
  MAX_TOKEN_BYTES,
  type ParticipantKind,
  ThreadlineError,
} from "@threadline/protocol";
import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from "jose";

export type Role = "user" | "operator" | "observer" | "admin";
export type Capability = "read" | "write" | "control";

export interface Grant {
  /** A session id, a prefix pattern ending in `*`, or `*` for every session. */
  session: string;
  can: readonly Capability[];
  /**
   * The state objects (PROTOCOL.md §19.4) this grant lets its holder write:
   * names, exact or ending in `*`. Absent: every object the holder's kind
   * may write.
   */
  state?: readonly string[];
}

/** The verified identity behind a socket. The gateway stamps `from` on client events from it. */
export interface Principal {
  user: string;
  role: Role;
  kind: ParticipantKind;
  grants: readonly Grant[];
  /** Expiry, ms since epoch; undefined when the token has no `exp`. */
  expiresAt: number | undefined;
}

/** Algorithms accepted for asymmetric keys (PEM or JWKS). */
export const ASYMMETRIC_ALGORITHMS = ["EdDSA", "RS256", "ES256"] as const;

export interface AuthConfig {
  /** HS256 shared secret (≥ 32 bytes), or undefined when only asymmetric keys are configured. */
  secret?: string | undefined;
  /** A public key in PEM (SPKI) form: Ed25519 (EdDSA), RSA (RS256) or P-256 (ES256). */
  publicKeyPem?: string | undefined;
  /** A JWKS URL (e.g. an identity provider's `/.well-known/jwks.json`); keys are picked by `kid`. */
  jwksUrl?: string | undefined;
  /** How long fetched JWKS keys are trusted before a refetch (default 10 min). An unknown `kid` refetches sooner. */
  jwksCacheMaxAgeMs?: number | undefined;
  /** Minimum time between two JWKS refetches triggered by unknown `kid`s (default 30 s). */
  jwksCooldownMs?: number | undefined;
  issuer?: string | undefined;
  audience?: string | undefined;
  clockToleranceSec: number;
}

/** Verifies client tokens (HS256 secret, PEM public key and/or JWKS URL). */
export interface Authenticator {
  verify(token: string): Promise<Principal>;
}

const ROLES: ReadonlySet<string> = new Set(["user", "operator", "observer", "admin"]);
const CAPS: ReadonlySet<string> = new Set(["read", "write", "control"]);

/** The JWS algorithm a PEM public key is used with, derived from its key type. */
export function algorithmOfPublicKey(key: KeyObject): (typeof ASYMMETRIC_ALGORITHMS)[number] {
  const type = key.asymmetricKeyType;
  if (type === "ed25519") return "EdDSA";
  if (type === "rsa") return "RS256";
  if (type === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return "ES256";
  throw new Error(
    `unsupported public key type ${type}${type === "ec" ? " (only P-256)" : ""}; use Ed25519, RSA or P-256`,
  );
}

/**
 * Builds the verifier. Each token's header `alg` selects the key source:
 * HS256 → the shared secret; an asymmetric algorithm → the PEM key when its
 * algorithm matches, else the JWKS (by `kid`). `exp` is required; `nbf`,
 * `iss` and `aud` are checked (the last two when configured), all with
 * `clockToleranceSec` of skew.
 */
export function createAuthenticator(config: AuthConfig): Authenticator {
  const secret = config.secret ? new TextEncoder().encode(config.secret) : undefined;
  const pem = config.publicKeyPem ? createPublicKey(config.publicKeyPem) : undefined;
  const pemAlg = pem ? algorithmOfPublicKey(pem) : undefined;
  const jwks = config.jwksUrl
    ? createRemoteJWKSet(new URL(config.jwksUrl), {
        cacheMaxAge: config.jwksCacheMaxAgeMs ?? 600_000,
        cooldownDuration: config.jwksCooldownMs ?? 30_000,
        timeoutDuration: 5_000,
      })
    : undefined;
  const algorithms: string[] = [];
  if (secret) algorithms.push("HS256");
  if (jwks) algorithms.push(...ASYMMETRIC_ALGORITHMS);
  else if (pemAlg) algorithms.push(pemAlg);
  if (algorithms.length === 0) throw new Error("no token key configured (secret, PEM public key or JWKS URL)");

  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (header.alg === "HS256" && secret) return secret;
    if (pem && header.alg === pemAlg && (!jwks || header.kid === undefined)) return pem;
    if (jwks) return jwks(header, token);
    throw new joseErrors.JOSEAlgNotAllowed(`alg ${header.alg} is not accepted`);
  };

  return {
    async verify(token: string): Promise<Principal> {
      // Checked here so every path (hello, refresh, upgrade header, HTTP routes) refuses it the same way.
      const bytes = Buffer.byteLength(token, "utf8");
      if (bytes > MAX_TOKEN_BYTES) {
        throw new ThreadlineError(
          ErrorCode.AUTH_FAILED,
          `token of ${bytes} bytes exceeds the limit of ${MAX_TOKEN_BYTES} bytes`,
        );
      }
      let payload: Record<string, unknown>;
      try {
        const result = await jwtVerify(token, getKey, {
          algorithms,
          clockTolerance: config.clockToleranceSec,
          requiredClaims: ["exp"],
          ...(config.issuer ? { issuer: config.issuer } : {}),
          ...(config.audience ? { audience: config.audience } : {}),
        });
        payload = result.payload as Record<string, unknown>;
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired) {
          throw new ThreadlineError(ErrorCode.TOKEN_EXPIRED, "token expired", { cause: error });
        }
        if (isKeyFetchFailure(error)) {
          throw new ThreadlineError(ErrorCode.UNAVAILABLE, "the token keys (JWKS) could not be fetched; retry", {
            cause: error,
          });
        }
        const reason = error instanceof Error ? error.message : String(error);
        throw new ThreadlineError(ErrorCode.AUTH_FAILED, `invalid token: ${reason}`, { cause: error });
      }
      return principalFromClaims(payload);
    },
  };
}

/** The JWKS could not be fetched (network, HTTP status, timeout): not the token's fault, so retryable. */
function isKeyFetchFailure(error: unknown): boolean {
  if (error instanceof joseErrors.JWKSTimeout) return true;
  if (error instanceof joseErrors.JOSEError) return /Expected 200 OK/.test(error.message);
  // fetch() reports network failures as TypeError("fetch failed").
  return error instanceof TypeError;
}

/** Validates the Threadline claims of a verified token. */
export function principalFromClaims(claims: Record<string, unknown>): Principal {
  const fail = (why: string) => new ThreadlineError(ErrorCode.AUTH_FAILED, `invalid token claims: ${why}`);
  const user = claims.sub;
  if (!isParticipantId(user)) throw fail("`sub` must be a participant id ([A-Za-z0-9_-]{1,128})");
  const role = claims.role ?? "user";
  if (typeof role !== "string" || !ROLES.has(role)) throw fail("`role` must be user, operator, observer or admin");
  const rawGrants = claims.grants ?? [];
  if (!Array.isArray(rawGrants) || rawGrants.length > 256)
    throw fail("`grants` must be an array of at most 256 grants");
  const grants: Grant[] = rawGrants.map((g, i) => {
    if (typeof g !== "object" || g === null) throw fail(`grants[${i}] must be an object`);
    const { session, can, state } = g as Record<string, unknown>;
    if (typeof session !== "string" || !/^(\*|[A-Za-z0-9_-]{1,128}\*?)$/.test(session)) {
      throw fail(`grants[${i}].session must be a session id, a prefix ending in *, or *`);
    }
    if (!Array.isArray(can) || !can.every((c) => typeof c === "string" && CAPS.has(c))) {
      throw fail(`grants[${i}].can must list read, write and/or control`);
    }
    if (
      state !== undefined &&
      (!Array.isArray(state) ||
        state.length > 64 ||
        !state.every((p) => typeof p === "string" && /^[A-Za-z0-9_-]{0,64}\*?$/.test(p) && p.length > 0))
    ) {
      throw fail(`grants[${i}].state must list at most 64 state object names, each exact or ending in *`);
    }
    return { session, can: can as Capability[], ...(state === undefined ? {} : { state: state as string[] }) };
  });
  const exp = typeof claims.exp === "number" ? claims.exp * 1000 : undefined;
  const kind: ParticipantKind = role === "operator" || role === "admin" ? "operator" : "user";
  return { user, role: role as Role, kind, grants, expiresAt: exp };
}

function matches(pattern: string, session: string): boolean {
  if (pattern === "*") return true;
  if (pattern.endsWith("*")) return session.startsWith(pattern.slice(0, -1));
  return pattern === session;
}

/** Whether `principal` may exercise `capability` on `session`. Observers can only read. */
export function can(principal: Principal, session: string, capability: Capability): boolean {
  if (principal.role === "observer" && capability !== "read") return false;
  return principal.grants.some((g) => g.can.includes(capability) && matches(g.session, session));
}

/**
 * Whether `principal` may write state object `object` of `session` as far as
 * its token says (PROTOCOL.md §19.4): some grant matching the session gives
 * `write` and either has no `state` list or lists a pattern matching the
 * object. (The stream-level rule — users never write `agent-` objects — is
 * `mayWriteObject`, checked as well.)
 */
export function canWriteState(principal: Principal, session: string, object: string): boolean {
  if (principal.role === "observer") return false;
  return principal.grants.some(
    (g) =>
      g.can.includes("write") &&
      matches(g.session, session) &&
      (g.state === undefined || g.state.some((pattern) => matches(pattern, object))),
  );
}

/** `handoff` actions any participant with `control` may send; every other handoff action is operator-only. */
const OPEN_HANDOFF_ACTIONS: ReadonlySet<unknown> = new Set(["request"]);

/**
 * Whether a client event may only be published by an operator or admin (on top of
 * the lane's capability): a `handoff` whose `data.action` is anything but
 * `"request"` — taking over or releasing a session is the operators' job
 * (PROTOCOL.md §17); users may only ask for it.
 */
export function requiresOperator(type: string, data: unknown): boolean {
  if (type !== "handoff") return false;
  const action = typeof data === "object" && data !== null ? (data as Record<string, unknown>).action : undefined;
  return !OPEN_HANDOFF_ACTIONS.has(action);
}

/** A short human description of an event for error messages (type, plus the handoff action). */
export function describeEvent(type: string, data: unknown): string {
  if (type !== "handoff") return `${type} events`;
  const action = typeof data === "object" && data !== null ? (data as Record<string, unknown>).action : undefined;
  return typeof action === "string" ? `handoff ${JSON.stringify(action.slice(0, 32))}` : "handoff without an action";
}
