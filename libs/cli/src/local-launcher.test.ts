import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { withLocalLauncher } from "./local-launcher.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function repoWithLauncher(pid: number): string {
  const cwd = mkdtempSync(join(tmpdir(), "tl-cli-launcher-"));
  dirs.push(cwd);
  mkdirSync(join(cwd, ".data"));
  const cli = { servers: "nats://127.0.0.1:4999", user: "gateway", pass: "gateway-dev" };
  writeFileSync(join(cwd, ".data/launcher.json"), JSON.stringify({ pid, cli }));
  return cwd;
}

// A new user ran `threadline` next to `npm start` and got the default nats://127.0.0.1:4222 with no user.
test("with no connection settings, the running npm start's NATS URL and user are used", () => {
  const env = withLocalLauncher({}, ["inspect", "s1"], repoWithLauncher(123), () => true);
  expect(env).toMatchObject({ NATS_URL: "nats://127.0.0.1:4999", NATS_USER: "gateway", NATS_PASS: "gateway-dev" });
});

test("THREADLINE_DATA_DIR points at another launcher's directory", () => {
  const other = repoWithLauncher(7);
  const env = withLocalLauncher({ THREADLINE_DATA_DIR: join(other, ".data") }, [], "/nowhere", () => true);
  expect(env.NATS_URL).toBe("nats://127.0.0.1:4999");
});

test("explicit settings, a launcher that is gone, or no file leave the environment alone", () => {
  const cwd = repoWithLauncher(123);
  expect(withLocalLauncher({ NATS_URL: "nats://x:1" }, [], cwd, () => true)).toEqual({ NATS_URL: "nats://x:1" });
  expect(withLocalLauncher({}, ["tail", "--server", "nats://y:2"], cwd, () => true)).toEqual({});
  expect(withLocalLauncher({}, ["tail", "--creds=a.creds"], cwd, () => true)).toEqual({});
  expect(withLocalLauncher({}, [], cwd, () => false)).toEqual({});
  expect(withLocalLauncher({}, [], "/nowhere", () => true)).toEqual({});
});
