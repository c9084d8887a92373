import { connectAgent, serveAgent } from "@threadline/agent";
import { NATS_EXAMPLE_AGENT, NATS_URL } from "./dev-env.ts";

/**
 * The example agent of `npm start`: an entry pool (`serveAgent`) that answers
 * every user `input` with a scripted reply streamed as a message of the turn,
 * straight into the session over NATS — the gateway is not involved. Stop
 * (a `cancel` from any tab) ends the turn at once; a steer is folded into the
 * reply; if this process dies mid-reply, another `example-agent` process
 * takes the turn over within a second.
 */
const TOKEN_DELAY_MS = Number(process.env.EXAMPLE_TOKEN_DELAY_MS ?? 30);

function reply(text: string): string[] {
  const answer =
    `You said: "${text}". ` +
    "This reply is streamed token by token into a durable session log. " +
    "Refresh the page, open a second tab or drop the network: every tab resumes exactly where it was. " +
    "Press Stop in any tab to cancel it.";
  return answer.match(/\S+\s*/g) ?? [answer];
}

// Its NATS user may only publish as example-agent and cannot create streams: the gateway provisions.
const agent = await connectAgent({ servers: NATS_URL, ...NATS_EXAMPLE_AGENT, id: "example-agent", provision: false });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const server = await serveAgent({
  agent,
  name: "example-agent",
  entry: true,
  concurrency: 16,
  async handler(ctx) {
    const text = ctx.text ?? JSON.stringify(ctx.input.event.data ?? null);
    const message = ctx.startMessage();
    for (const token of reply(text)) {
      if (ctx.signal.aborted) break; // the writer ends the message "cancelled" by itself
      for (const steer of ctx.takeSteers()) await message.append(`(noted: "${steer.text}") `);
      await message.append(token);
      await sleep(TOKEN_DELAY_MS);
    }
    if (!ctx.signal.aborted) await message.end("complete");
  },
});

console.log(JSON.stringify({ threadline: "agent-ready", id: "example-agent", worker: server.worker }));
const stop = async () => {
  await server.stop({ graceMs: 5000 });
  await agent.close();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
