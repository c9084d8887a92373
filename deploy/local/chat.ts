import { createInterface } from "node:readline";
import { createClient } from "@threadline/client";
import WebSocket from "ws";
import { ChatPrinter } from "./chat-render.ts";
import { devSecret, devToken, toolGatewayUrl } from "./dev-env.ts";
import { toolErrorLine } from "./tool-errors.ts";

/**
 * `npm run example:chat -- <session> [--user <id>] [--device <id>]`: a
 * terminal chat on the client SDK. It replays the session's history, streams
 * live replies, and survives gateway restarts and network drops (try
 * stopping `npm start` and starting it again). It finds the running
 * `npm start` of its data directory (THREADLINE_DATA_DIR) through
 * launcher.json; THREADLINE_URL / THREADLINE_TOKEN override.
 */
const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const session = args.find((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--")) ?? "demo";
const user = flag("user") ?? "demo-user";
const device = flag("device") ?? `terminal-${process.pid}`;
const dim = (text: string) => `\x1b[2m${text}\x1b[0m`;

function fail(error: unknown): never {
  process.stderr.write(`${toolErrorLine("chat", error)}\n`);
  process.exit(1);
}

const printer = new ChatPrinter((text) => process.stdout.write(text));
let secret: string | undefined;
try {
  secret = process.env.THREADLINE_TOKEN ? undefined : devSecret();
} catch (error) {
  fail(error);
}
const url = toolGatewayUrl();
const client = createClient({
  url,
  token: () => process.env.THREADLINE_TOKEN ?? devToken(user, { secret }),
  device,
  WebSocket: WebSocket as never,
});
client.onStatus((status) => {
  // Status lines go through the printer: never inside a streamed reply.
  if (status.type === "connected") printer.line(dim(`[connected to ${url} as ${status.user}/${status.device}]`));
  else if (status.type === "reconnecting") printer.line(dim(`[reconnecting in ${status.delayMs} ms…]`));
  else if (status.type === "closed") {
    if (status.error) fail(status.error);
    printer.line(dim(`[closed${status.reason ? `: ${status.reason}` : ""}]`));
  }
});

const handle = await client.attach(session).catch(fail);
handle.onEvent((record) => printer.record(record));
await handle.whenSynced().catch(fail);
printer.line(dim(`[session ${session} — type a message and press enter; Ctrl-C quits]`));

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const text = line.trim();
  if (!text) return;
  handle.publish({ type: "input", data: { text } }).catch((error: unknown) => {
    printer.line(`[publish failed: ${error instanceof Error ? error.message : String(error)}]`);
  });
});
rl.on("close", () => void client.close().then(() => process.exit(0)));
process.on("SIGINT", () => void client.close().then(() => process.exit(0)));
