import { execFile } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { jwtVerify } from "jose";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SECRET = "mint-token-test-secret-0123456789abcdef";
const run = (args: string[]) =>
  promisify(execFile)(process.execPath, ["--import", "tsx", "deploy/local/mint-token.ts", ...args], {
    cwd: ROOT,
    env: { ...process.env, THREADLINE_JWT_SECRET: SECRET },
  });

describe("npm run token (deploy/local/mint-token.ts)", () => {
  it("mints a verifiable token with the role, session grants and expiry asked for", async () => {
    const { stdout } = await run([
      "--user",
      "olga",
      "--role",
      "operator",
      "--sessions",
      "support-*,vip-1",
      "--ttl",
      "600",
    ]);
    const { payload } = await jwtVerify(stdout.trim(), new TextEncoder().encode(SECRET), { algorithms: ["HS256"] });
    expect(payload).toMatchObject({
      sub: "olga",
      role: "operator",
      grants: [
        { session: "support-*", can: ["read", "write", "control"] },
        { session: "vip-1", can: ["read", "write", "control"] },
      ],
    });
    expect(payload.exp! - Math.floor(Date.now() / 1000)).toBeGreaterThan(590);
    const observer = await run(["--user", "otto", "--role", "observer"]);
    const obs = await jwtVerify(observer.stdout.trim(), new TextEncoder().encode(SECRET));
    expect(obs.payload.grants).toEqual([{ session: "*", can: ["read"] }]);
  });

  it("refuses bad arguments with exit code 2", async () => {
    for (const args of [
      [],
      ["--user", "a.b"],
      ["--user", "a", "--role", "root"],
      ["--user", "a", "--sessions", "a*b"],
    ]) {
      const error = (await run(args).catch((e: unknown) => e)) as { code?: number };
      expect(error.code).toBe(2);
    }
  });
});
