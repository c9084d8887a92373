import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { wallClockMs } from "./stats.ts";
import { runSteadySchedule } from "./steady-schedule.ts";
import { fromBench, toBench } from "./worker-process.ts";

/**
 * Worker process of the `delivery` baseline: the common default way to
 * stream an agent to browsers — the agent's own HTTP server, one SSE
 * response per connection, every event written to each open response of its
 * session. No storage, no resume: the best case for latency.
 *
 * Protocol with the bench (IPC):
 *   → ready {port}
 *   ← start {sessions, ratePerSession, durationMs}
 *   → done {generated: number[] (events per session, in `sessions` order), connections, schedule}
 *
 * `GET /sse/<session>` opens a stream; the server first writes the comment
 * `: connected` so the client knows it is registered. Each event is
 * `id: <n>\ndata: <json envelope with data.t = send time>\n\n`.
 */
const streams = new Map<string, Set<ServerResponse>>();

const server = createServer({ noDelay: true }, (req, res) => {
  const session = /^\/sse\/([A-Za-z0-9_-]{1,128})$/.exec(req.url ?? "")?.[1];
  if (!session || req.method !== "GET") {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  res.write(": connected\n\n");
  const registered = streams.get(session) ?? new Set<ServerResponse>();
  streams.set(session, registered);
  registered.add(res);
  req.on("close", () => registered.delete(res));
});
server.keepAliveTimeout = 0;
server.listen(0, "127.0.0.1", () => {
  toBench({ type: "ready", port: (server.address() as AddressInfo).port });
});

fromBench(async (message) => {
  if (message.type !== "start") return;
  const sessions = message.sessions as string[];
  const generated = sessions.map(() => 0);
  const targets = sessions.map((s) => streams.get(s) ?? new Set<ServerResponse>());
  let connections = 0;
  for (const t of targets) connections += t.size;
  const schedule = await runSteadySchedule(
    {
      sessions: sessions.length,
      ratePerSession: message.ratePerSession as number,
      durationMs: message.durationMs as number,
    },
    (i, n) => {
      const envelope = {
        id: `sse-${i}-${n}`,
        type: "bench.tick",
        from: { kind: "agent", id: "sse-agent" },
        ts: Date.now(),
        data: { t: wallClockMs(), n },
      };
      const chunk = `id: ${n}\ndata: ${JSON.stringify(envelope)}\n\n`;
      for (const res of targets[i]!) res.write(chunk);
      generated[i]!++;
    },
  );
  toBench({ type: "done", generated, connections, schedule });
});
