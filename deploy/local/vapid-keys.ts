import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import webPush from "web-push";

/** A VAPID key pair as `web-push` makes it (base64url: the 65-byte public P-256 point, the 32-byte private scalar). */
export interface VapidKeys {
  publicKey: string;
  privateKey: string;
}

/** The file under the data directory holding the local stack's key pair. */
export const VAPID_KEYS_FILE = "vapid-keys.json";

const PUBLIC_KEY = /^[A-Za-z0-9_-]{87}$/;
const PRIVATE_KEY = /^[A-Za-z0-9_-]{43}$/;

/**
 * The VAPID key pair of `npm start` (Web Push: the gateway serves the public
 * key, the notifier signs with the private one):
 * `THREADLINE_VAPID_PUBLIC_KEY` + `THREADLINE_VAPID_PRIVATE_KEY` when both are
 * set, else `<dataDir>/vapid-keys.json`, generated once with `web-push`
 * (owner-only, 0600) and reused on every later start — a browser's push
 * subscription is bound to the public key, so a new pair would silently cut
 * off every browser that subscribed. Throws when only one variable is set or
 * the file is not a key pair (saying what to do).
 * @example const { keys } = ensureVapidKeys(DATA_DIR);
 */
export function ensureVapidKeys(
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
): { keys: VapidKeys; source: { file: string } | { env: "THREADLINE_VAPID_PUBLIC_KEY" } } {
  const { THREADLINE_VAPID_PUBLIC_KEY: publicKey, THREADLINE_VAPID_PRIVATE_KEY: privateKey } = env;
  if (publicKey || privateKey) {
    if (!publicKey || !privateKey) {
      throw new Error("set both THREADLINE_VAPID_PUBLIC_KEY and THREADLINE_VAPID_PRIVATE_KEY, or neither");
    }
    return {
      keys: checked({ publicKey, privateKey }, "THREADLINE_VAPID_*"),
      source: { env: "THREADLINE_VAPID_PUBLIC_KEY" },
    };
  }
  const file = join(dataDir, VAPID_KEYS_FILE);
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    const { publicKey: pub, privateKey: priv } = webPush.generateVAPIDKeys();
    writeFileSync(file, `${JSON.stringify({ publicKey: pub, privateKey: priv }, null, 2)}\n`, {
      mode: 0o600,
      flag: "wx",
    });
  }
  // Owner-only whatever made it (a copy, a restore): it holds the key that signs every push.
  chmodSync(file, 0o600);
  let stored: unknown;
  try {
    stored = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    stored = undefined;
  }
  return { keys: checked(stored, file), source: { file } };
}

function checked(value: unknown, where: string): VapidKeys {
  const keys = value as Partial<VapidKeys> | undefined;
  if (
    typeof keys?.publicKey === "string" &&
    PUBLIC_KEY.test(keys.publicKey) &&
    typeof keys.privateKey === "string" &&
    PRIVATE_KEY.test(keys.privateKey)
  ) {
    return { publicKey: keys.publicKey, privateKey: keys.privateKey };
  }
  throw new Error(
    `${where} does not hold a VAPID key pair (web-push's base64url publicKey and privateKey): ` +
      "fix it, or delete it to generate a new pair (browsers subscribed with the old one must subscribe again)",
  );
}
