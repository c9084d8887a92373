import { decodeMsgpack, encodeMsgpack } from "@threadline/protocol";
import WebSocket from "ws";
import { mintToken } from "../integration/support/tokens.ts";
import { wallClockMs } from "./stats.ts";

/**
 * Worker process of the `scale` scenario: holds thousands of WebSockets (a
 * process has its own file-descriptor limit, so the bench runs several),
 * either Threadline sockets (hello with a fresh token per user, attach from
 * `now`) or plain sockets to the peer server. Sockets are spread over
 * several loopback source addresses (127.0.0.2 …) so one destination port
 * never runs out of ephemeral ports. Driven over IPC:
 *
 * - `{type: "open", protocol, url, count, first, session, localAddresses}` →
 *   `{type: "opened", opened, failed, error?}`: opens `count` sockets (users
 *   `u<first>`…), at most 64 handshakes in flight. `session` is a name, or
 *   `"*"` for one session per 2 sockets (`idle-<n/2>`).
 * - `{type: "expect", n}` → `{type: "got", n, count, firstAt, lastAt}` once
 *   every socket opened with `session` "fanout" has received the event whose
 *   `data.n` is `n` (wall-clock arrival times, ms).
 * - `{type: "close"}` → `{type: "closed"}`: terminates every socket.
 */
interface OpenCommand {
  type: "open";
  protocol: "threadline" | "plain";
  url: string;
  count: number;
  first: number;
  session: string;
  localAddresses: string[];
}

type Frame = { op: string; rid?: number; event?: { data?: { n?: number } }; [field: string]: unknown };

const CONCURRENCY = 64;
const sockets: WebSocket[] = [];
/** Sockets that count toward `expect` (the fan-out group). */
let fanoutSockets = 0;
const arrivals = new Map<number, { count: number; firstAt: number; lastAt: number }>();
const expecting = new Map<number, () => void>();

function onEventFrame(frame: Frame, at: number): void {
  const n = frame.event?.data?.n;
  if (typeof n !== "number") return;
  const seen = arrivals.get(n) ?? { count: 0, firstAt: at, lastAt: at };
  seen.count++;
  seen.lastAt = Math.max(seen.lastAt, at);
  seen.firstAt = Math.min(seen.firstAt, at);
  arrivals.set(n, seen);
  if (seen.count === fanoutSockets) expecting.get(n)?.();
}

/** Opens one socket; resolves once it is ready to receive events (attached and synced, or open). */
async function openOne(command: OpenCommand, index: number): Promise<void> {
  const user = command.first + index;
  const localAddress = command.localAddresses[user % command.localAddresses.length];
  const fanout = command.session === "fanout";
  const session = command.session === "*" ? `idle-${Math.floor(user / 2)}` : command.session;
  const threadline = command.protocol === "threadline";
  const token = threadline ? await mintToken({ sub: `u${user}` }) : "";
  const ws = new WebSocket(
    threadline ? command.url : `${command.url}?group=${fanout ? "fanout" : "idle"}`,
    threadline ? ["threadline.v1"] : [],
    { perMessageDeflate: false, localAddress },
  );
  ws.binaryType = "nodebuffer";
  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error) => reject(error);
    ws.once("error", fail);
    ws.once("close", (code: number) => reject(new Error(`closed with ${code} before ready`)));
    ws.on("message", (data: Buffer) => {
      const at = wallClockMs();
      const frame = decodeMsgpack(data) as Frame;
      if (frame.op === "event") onEventFrame(frame, at);
      else if (frame.op === "events") {
        // A catch-up batch (PROTOCOL.md §7.3), e.g. after a slow-socket fallback: one event per entry.
        const { session, seqs, events } = frame as Frame & { seqs: number[]; events: Frame["event"][] };
        for (let i = 0; i < seqs.length; i++)
          onEventFrame({ op: "event", session, seq: seqs[i], event: events[i] }, at);
      } else if (frame.op === "welcome") ws.send(encodeMsgpack({ op: "attach", rid: 1, session, from: "now" }));
      else if (frame.op === "synced") resolve();
      else if (frame.op === "error") reject(new Error(`error frame: ${JSON.stringify(frame)}`));
    });
    ws.once("open", () => {
      if (threadline) ws.send(encodeMsgpack({ op: "hello", token, device: "d", accept: ["events"] }));
      else resolve();
    });
  });
  ws.removeAllListeners("error");
  ws.removeAllListeners("close");
  ws.on("error", () => {});
  sockets.push(ws);
  if (fanout) fanoutSockets++;
}

async function open(command: OpenCommand): Promise<void> {
  let next = 0;
  let opened = 0;
  let failed = 0;
  let error: string | undefined;
  const lane = async () => {
    while (next < command.count) {
      const index = next++;
      try {
        await openOne(command, index);
        opened++;
      } catch (e) {
        failed++;
        error ??= e instanceof Error ? e.message : String(e);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  process.send?.({ type: "opened", opened, failed, error });
}

process.on("message", (message: { type: string; n?: number } & Partial<OpenCommand>) => {
  if (message.type === "open") void open(message as OpenCommand);
  else if (message.type === "expect") {
    const n = message.n as number;
    const report = () => {
      expecting.delete(n);
      const seen = arrivals.get(n);
      arrivals.delete(n);
      process.send?.({ type: "got", n, count: seen?.count ?? 0, firstAt: seen?.firstAt, lastAt: seen?.lastAt });
    };
    if ((arrivals.get(n)?.count ?? 0) >= fanoutSockets) report();
    else expecting.set(n, report);
  } else if (message.type === "close") {
    for (const ws of sockets.splice(0)) ws.terminate();
    fanoutSockets = 0;
    arrivals.clear();
    process.send?.({ type: "closed" });
  }
});
process.on("SIGTERM", () => process.exit(0));
process.send?.({ type: "ready" });
