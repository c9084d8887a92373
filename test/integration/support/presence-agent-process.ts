// A child process for presence tests: an agent that enters presence and waits to be killed.
import { connectAgent } from "@threadline/agent";

const env = process.env;
const agent = await connectAgent({
  servers: env.NATS_URL ?? "nats://127.0.0.1:4222",
  id: env.AGENT_ID ?? "agent",
  ...(env.NATS_USER ? { user: env.NATS_USER, pass: env.NATS_PASS ?? "" } : {}),
  provision: {},
});
const presence = agent.presence(env.SESSION ?? "s1", { heartbeatMs: Number(env.HEARTBEAT_MS ?? 2000) });
await presence.enter({ status: "active", name: "child agent" });
console.log(JSON.stringify({ threadline: "agent-present", pid: process.pid }));
setInterval(() => {}, 1 << 30);
process.on("SIGTERM", () => {
  void agent.close().then(() => process.exit(0));
});
