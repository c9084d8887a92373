import { type AgentPresence, connectAgent } from "@threadline/agent";
import { newId } from "@threadline/protocol";
import { NATS_EXAMPLE_AGENT, NATS_URL } from "./dev-env.ts";

/**
 * The example agent of `npm start`: answers every `input` event of any
 * session with a scripted reply streamed as message events (start, appends,
 * end), straight into the session over NATS — the gateway is not involved.
 */
const TOKEN_DELAY_MS = Number(process.env.EXAMPLE_TOKEN_DELAY_MS ?? 30);

function reply(text: string): string[] {
  const answer =
    `You said: "${text}". ` +
    "This reply is streamed token by token into a durable session log. " +
    "Refresh the page, open a second tab or drop the network: every tab resumes exactly where it was.";
  return answer.match(/\S+\s*/g) ?? [answer];
}

// Its NATS user may only publish as example-agent and cannot create streams: the gateway provisions.
const agent = await connectAgent({ servers: NATS_URL, ...NATS_EXAMPLE_AGENT, id: "example-agent", provision: false });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The agent is present in the sessions it answered (at most 100; the oldest is left first). */
const presences = new Map<string, AgentPresence>();
async function presenceIn(session: string): Promise<AgentPresence> {
  let presence = presences.get(session);
  if (!presence) {
    presence = agent.presence(session);
    await presence.enter({ status: "active", name: "Example agent" });
    presences.set(session, presence);
    if (presences.size > 100) {
      const [oldest, p] = presences.entries().next().value as [string, AgentPresence];
      presences.delete(oldest);
      void p.close();
    }
  }
  return presence;
}

const consumer = await agent.consumeInput(
  async (record) => {
    const data = record.event.data as { text?: unknown } | undefined;
    const text = typeof data?.text === "string" ? data.text : JSON.stringify(record.event.data ?? null);
    const turn = record.event.id;
    const messageId = newId();
    const presence = await presenceIn(record.session);
    await presence.update("thinking");
    await agent.publish(record.session, {
      type: "message.start",
      turn,
      ref: record.event.id,
      data: { id: messageId, role: "assistant", author: "example-agent" },
    });
    for (const token of reply(text)) {
      await agent.publish(record.session, {
        type: "message.append",
        turn,
        ref: messageId,
        data: { part: "text", delta: token },
      });
      await sleep(TOKEN_DELAY_MS);
    }
    await agent.publish(record.session, { type: "message.end", turn, ref: messageId, data: { status: "complete" } });
    await presence.update("active");
  },
  { durable: "example-agent" },
);

console.log(JSON.stringify({ threadline: "agent-ready", id: "example-agent" }));
const stop = async () => {
  await consumer.stop();
  await agent.close();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
