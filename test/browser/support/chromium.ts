import { execFileSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/**
 * Debian's Chromium, headless, for the browser tests. The binary comes from
 * deploy/local/ensure-chromium.sh (CHROMIUM_BIN overrides). Playwright gives
 * every launch a fresh temporary profile (its own --user-data-dir).
 * `options.hostMap` resolves extra host names to 127.0.0.1 (an origin that is
 * not a secure context: `http://<name>:<port>`).
 */
export async function launchChromium(options: { hostMap?: readonly string[] } = {}): Promise<Browser> {
  const out = execFileSync("bash", [join(ROOT, "deploy/local/ensure-chromium.sh")], { encoding: "utf8" });
  const executablePath = out.trim().split("\n").at(-1)!;
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
      ...(options.hostMap?.length
        ? [`--host-resolver-rules=${options.hostMap.map((host) => `MAP ${host} 127.0.0.1`).join(",")}`]
        : []),
    ],
  });
}

/** Screenshots go to test/browser/screenshots (git-ignored except the README's demo.png). */
export function screenshotPath(name: string): string {
  return join(ROOT, "test/browser/screenshots", `${name}.png`);
}
