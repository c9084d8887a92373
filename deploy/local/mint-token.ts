#!/usr/bin/env -S node --import tsx
/**
 * Mints a client token for the local stack (development only: real
 * deployments mint tokens in their own backend or identity provider).
 *
 *   npm run token -- --user alice --role user --sessions 'support-*'
 *   npm run token -- --user olga --role operator --sessions '*' --ttl 600
 *   npm run token -- --user otto --role observer --sessions 'support-1,support-2'
 *
 * Prints the token on stdout (and its claims on stderr). Signed with the
 * local HS256 secret: THREADLINE_JWT_SECRET, else the one `npm start`
 * generated into `<dataDir>/dev-jwt-secret` (THREADLINE_DATA_DIR; it never
 * creates one — a token no gateway accepts helps nobody).
 */
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { DevSetupError, devSecret } from "./dev-env.ts";

const ROLES = ["user", "operator", "observer", "admin"] as const;
const CAPS = ["read", "write", "control"] as const;

const { values } = parseArgs({
  options: {
    user: { type: "string" },
    role: { type: "string", default: "user" },
    sessions: { type: "string", default: "*" },
    can: { type: "string" },
    ttl: { type: "string", default: "3600" },
    issuer: { type: "string" },
    audience: { type: "string" },
    help: { type: "boolean", default: false },
  },
});

function fail(message: string): never {
  console.error(`mint-token: ${message}
usage: npm run token -- --user <id> [--role user|operator|observer|admin] [--sessions 'id,prefix-*,*']
                        [--can read,write,control] [--ttl seconds] [--issuer iss] [--audience aud]`);
  process.exit(2);
}

if (values.help) fail("mints a development token");
const user = values.user;
if (!user || !/^[A-Za-z0-9_-]{1,128}$/.test(user)) fail("--user must be a participant id ([A-Za-z0-9_-]{1,128})");
const role = values.role as (typeof ROLES)[number];
if (!ROLES.includes(role)) fail(`--role must be one of ${ROLES.join(", ")}`);
const sessions = values.sessions.split(",").map((s) => s.trim());
for (const s of sessions) {
  if (!/^(\*|[A-Za-z0-9_-]{1,128}\*?)$/.test(s)) fail(`--sessions: ${JSON.stringify(s)} is not an id, prefix* or *`);
}
// Observers can only read whatever the token says; default to what each role can use.
const can = (values.can ?? (role === "observer" ? "read" : CAPS.join(","))).split(",").map((c) => c.trim());
for (const c of can) if (!(CAPS as readonly string[]).includes(c)) fail(`--can: unknown capability ${c}`);
const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl < 1) fail("--ttl must be a positive number of seconds");

const now = Math.floor(Date.now() / 1000);
const claims = { role, grants: sessions.map((session) => ({ session, can })) };
let jwt = new SignJWT(claims)
  .setProtectedHeader({ alg: "HS256" })
  .setSubject(user)
  .setIssuedAt(now)
  .setExpirationTime(now + ttl);
if (values.issuer) jwt = jwt.setIssuer(values.issuer);
if (values.audience) jwt = jwt.setAudience(values.audience);
let secret: string;
try {
  secret = devSecret();
} catch (error) {
  if (!(error instanceof DevSetupError)) throw error;
  console.error(`mint-token: ${error.message}`);
  process.exit(2);
}
const token = await jwt.sign(new TextEncoder().encode(secret));
console.error(JSON.stringify({ sub: user, ...claims, exp: now + ttl }));
console.log(token);
