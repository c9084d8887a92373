import { createInterface } from "node:readline";
import { createClient } from "@threadline/client";
import type { SessionRecord } from "@threadline/protocol";
import WebSocket from "ws";
import { devToken, GATEWAY_URL } from "./dev-env.ts";

/**
 * `npm run example:chat -- <session> [--user <id>] [--device <id>]`: a
 * terminal chat on the client SDK. It replays the session's history, streams
 * live replies, and survives gateway restarts and network drops (try
 * stopping `npm start` and starting it again).
 */
const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const session = args.find((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--")) ?? "demo";
const user = flag("user") ?? "demo-user";
const device = flag("device") ?? `terminal-${process.pid}`;

const client = createClient({
  url: GATEWAY_URL,
  token: () => process.env.THREADLINE_TOKEN ?? devToken(user),
  device,
  WebSocket: WebSocket as never,
});
client.onStatus((status) => {
  if (status.type === "connected")
    process.stderr.write(`\x1b[2m[connected as ${status.user}/${status.device}]\x1b[0m\n`);
  else if (status.type === "reconnecting")
    process.stderr.write(`\x1b[2m[reconnecting in ${status.delayMs} ms…]\x1b[0m\n`);
  else if (status.type === "closed")
    process.stderr.write(`\x1b[2m[closed${status.reason ? `: ${status.reason}` : ""}]\x1b[0m\n`);
});

function render(record: SessionRecord): void {
  const { event } = record;
  const data = (event.data ?? {}) as Record<string, unknown>;
  switch (event.type) {
    case "input":
      process.stdout.write(
        `\n\x1b[1m${event.from.id}${event.from.device ? `@${event.from.device}` : ""}>\x1b[0m ${String(data.text ?? "")}\n`,
      );
      break;
    case "message.start": {
      // author: { kind, id, name? } (PROTOCOL.md §18)
      const author = (data.author ?? {}) as { id?: unknown; name?: unknown };
      process.stdout.write(`\x1b[36m${String(author.name ?? author.id ?? event.from.id)}:\x1b[0m `);
      break;
    }
    case "message.append":
      process.stdout.write(String(data.delta ?? ""));
      break;
    case "message.end":
      process.stdout.write(data.status === "complete" ? "\n" : ` [${String(data.status)}]\n`);
      break;
    case "presence.join":
    case "presence.update":
    case "presence.leave": {
      const who = `${String(data.name ?? data.id)} (${String(data.kind)})`;
      const what =
        event.type === "presence.join"
          ? "joined"
          : event.type === "presence.leave"
            ? `left: ${String(data.reason)}`
            : `is ${String(data.status)}, ${Array.isArray(data.devices) ? data.devices.length : 0} device(s)`;
      process.stdout.write(`\x1b[2m[${who} ${what}]\x1b[0m\n`);
      break;
    }
    default:
      process.stdout.write(`\x1b[2m[${event.type} #${record.seq}]\x1b[0m\n`);
  }
}

const handle = await client.attach(session);
handle.onEvent(render);
await handle.whenSynced();
process.stderr.write(`\x1b[2m[session ${session} — type a message and press enter; Ctrl-C quits]\x1b[0m\n`);

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const text = line.trim();
  if (!text) return;
  handle.publish({ type: "input", data: { text } }).catch((error: unknown) => {
    process.stderr.write(`[publish failed: ${error instanceof Error ? error.message : String(error)}]\n`);
  });
});
rl.on("close", () => void client.close().then(() => process.exit(0)));
process.on("SIGINT", () => void client.close().then(() => process.exit(0)));
