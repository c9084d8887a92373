import { ErrorCode, isParticipantId, type ParticipantKind, ThreadlineError } from "@threadline/protocol";
import { errors as joseErrors, jwtVerify } from "jose";

export type Role = "user" | "operator" | "observer" | "admin";
export type Capability = "read" | "write" | "control";

export interface Grant {
  /** A session id, a prefix pattern ending in `*`, or `*` for every session. */
  session: string;
  can: readonly Capability[];
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

export interface AuthConfig {
  /** HS256 shared secret (≥ 32 bytes). */
  secret: string;
  issuer?: string | undefined;
  audience?: string | undefined;
  clockToleranceSec: number;
}

/** Verifies client tokens. Asymmetric keys and JWKS come with the security work (issue 7). */
export interface Authenticator {
  verify(token: string): Promise<Principal>;
}

const ROLES: ReadonlySet<string> = new Set(["user", "operator", "observer", "admin"]);
const CAPS: ReadonlySet<string> = new Set(["read", "write", "control"]);

export function createAuthenticator(config: AuthConfig): Authenticator {
  const key = new TextEncoder().encode(config.secret);
  return {
    async verify(token: string): Promise<Principal> {
      let payload: Record<string, unknown>;
      try {
        const result = await jwtVerify(token, key, {
          algorithms: ["HS256"],
          clockTolerance: config.clockToleranceSec,
          ...(config.issuer ? { issuer: config.issuer } : {}),
          ...(config.audience ? { audience: config.audience } : {}),
        });
        payload = result.payload as Record<string, unknown>;
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired) {
          throw new ThreadlineError(ErrorCode.TOKEN_EXPIRED, "token expired", { cause: error });
        }
        const reason = error instanceof Error ? error.message : String(error);
        throw new ThreadlineError(ErrorCode.AUTH_FAILED, `invalid token: ${reason}`, { cause: error });
      }
      return principalFromClaims(payload);
    },
  };
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
    const { session, can } = g as Record<string, unknown>;
    if (typeof session !== "string" || !/^(\*|[A-Za-z0-9_-]{1,128}\*?)$/.test(session)) {
      throw fail(`grants[${i}].session must be a session id, a prefix ending in *, or *`);
    }
    if (!Array.isArray(can) || !can.every((c) => typeof c === "string" && CAPS.has(c))) {
      throw fail(`grants[${i}].can must list read, write and/or control`);
    }
    return { session, can: can as Capability[] };
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
