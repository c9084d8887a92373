// A child process for control tests and the control benchmark: one worker of an agent pool
// running the scripted test handler, until killed.
import { connectAgent, serveAgent } from "@threadline/agent";
import { scriptedHandler } from "./control-agent-handler.ts";

const env = process.env;
const agent = await connectAgent({
  servers: (env.NATS_URL ?? "nats://127.0.0.1:4222").split(","),
  id: env.AGENT_ID ?? "agent",
  ...(env.NATS_USER ? { user: env.NATS_USER, pass: env.NATS_PASS } : {}),
  ...(env.PROVISION === "false" ? { provision: false } : {}),
});
const server = await serveAgent({
  agent,
  name: env.POOL ?? "assistant",
  entry: env.ENTRY !== "false",
  concurrency: Number(env.CONCURRENCY ?? 8),
  leaseMs: Number(env.LEASE_MS ?? 1000),
  ...(env.ORPHAN_AFTER_MS ? { orphanAfterMs: Number(env.ORPHAN_AFTER_MS) } : {}),
  worker: env.WORKER,
  handler: scriptedHandler,
  onError: (error) => console.error("worker error:", error),
});
console.log(JSON.stringify({ threadline: "worker-ready", worker: server.worker, pid: process.pid }));
process.on("SIGTERM", () => {
  void server
    .stop()
    .then(() => agent.close())
    .then(() => process.exit(0));
});
