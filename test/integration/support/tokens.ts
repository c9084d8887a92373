import { SignJWT } from "jose";

export const TEST_JWT_SECRET = "threadline-test-secret-0123456789abcdef";

export interface TokenClaims {
  sub: string;
  role?: "user" | "operator" | "observer" | "admin";
  /** `state`: the state objects the grant lets its holder write (PROTOCOL.md §19.4). */
  grants?: { session: string; can: ("read" | "write" | "control")[]; state?: string[] }[];
  /** Seconds from now; negative for an already expired token. Default 1 hour. */
  expiresIn?: number;
  secret?: string;
}

/** Mints an HS256 token the way an application backend would. */
export async function mintToken(claims: TokenClaims): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({
    role: claims.role ?? "user",
    grants: claims.grants ?? [{ session: "*", can: ["read", "write", "control"] }],
  })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(claims.sub)
    .setIssuedAt(now - 5)
    .setExpirationTime(now + (claims.expiresIn ?? 3600));
  return jwt.sign(new TextEncoder().encode(claims.secret ?? TEST_JWT_SECRET));
}
