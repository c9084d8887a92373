import {
  type Agent,
  type AgentPresence,
  type AgentServer,
  connectAgent,
  type JsonValue,
  type TurnContext as SdkTurnContext,
  type StateHandle,
  serveAgent,
} from "@threadline/agent";
import { Lane, type ProgressStatus } from "@threadline/protocol";
import { streamReply } from "./model.ts";

/**
 * A demo agent pool: one process serving pool `name` with the agent SDK's
 * worker pool (`serveAgent`, PROTOCOL.md §17), plus what the demo's agents
 * share — replies streamed through the SDK's batching message writer, steps
 * as structured progress, the agent's presence in the sessions it serves
 * (`active`, `thinking` while a turn runs), and for the entry pool a line in
 * the support desk session per customer input (see ../directory.ts).
 */
export interface TurnContext {
  readonly session: string;
  readonly turn: string;
  /** The customer's text (`data.text` of an input, `data.input.text` of a turn.request). */
  readonly text: string;
  /** Fired by a `cancel` of this turn or an ancestor, from any device. */
  readonly signal: AbortSignal;
  progress(step: string, status: ProgressStatus, options?: { label?: string; detail?: string }): Promise<void>;
  /** Steer texts received for this turn since the last call (a `steer` from any device). */
  takeSteers(): string[];
  /**
   * Replies with one assistant message stating `facts`: streamed token by
   * token by the simulated model, or phrased by a real model when one is
   * configured (./model.ts). It ends `cancelled` when the turn is cancelled mid-stream.
   */
  reply(facts: string): Promise<void>;
  /** A client tool call answered by any of the user's devices; throws the client's error. */
  callClientTool(name: string, args: unknown, options?: { timeoutMs?: number }): Promise<unknown>;
  /** Asks the customer (any of their devices) to approve `action`; resolves with the first answer. */
  requestApproval(action: string, details: unknown, options?: { timeoutMs?: number }): Promise<boolean>;
  /** Starts a sub-agent turn in pool `agent`; returns its turn id. */
  delegate(agent: string, input: { text: string }): Promise<string>;
  /**
   * Asks for a human: stores `handoff {action: "request"}` in the session's
   * control lane (every device and the operator console see the request) and,
   * in entry pools, flags the conversation on the support desk.
   */
  requestHuman(reason: string): Promise<void>;
  /**
   * A shared state object of the session (`page`, `cart`, `agent-checklist`,
   * ../shop-state.ts) as of this turn's input, live while the turn runs.
   */
  state<T extends JsonValue = JsonValue>(name: string): Promise<StateHandle<T>>;
}

export interface PoolOptions {
  /** Pool name; also the agent's participant id (its NATS user in `npm start`). */
  name: string;
  displayName: string;
  /** Takes user input (the triage agent). */
  entry?: boolean;
  /** Entry pools: the session where each customer input is listed for the operator console. */
  directory?: string;
  /** Turns run at once in this process. Default 8. */
  concurrency?: number;
  servers: string;
  user?: string;
  pass?: string;
  handler: (ctx: TurnContext) => Promise<void>;
}

export interface Pool {
  close(): Promise<void>;
}

/** Presences kept per pool; beyond this the least recently used idle one leaves (busy ones may exceed it). */
const MAX_PRESENCES = 200;

export async function servePool(options: PoolOptions): Promise<Pool> {
  const agent: Agent = await connectAgent({
    servers: options.servers,
    id: options.name,
    provision: false,
    ...(options.user ? { user: options.user, pass: options.pass } : {}),
  });
  const author = { kind: "agent" as const, id: options.name, name: options.displayName };
  const presences = new Map<string, { presence: AgentPresence; turns: number }>();

  const enter = async (session: string) => {
    let held = presences.get(session);
    if (held) presences.delete(session);
    else {
      held = { presence: agent.presence(session), turns: 0 };
      await held.presence.enter({ status: "active", name: options.displayName }).catch(() => {});
    }
    presences.set(session, held);
    if (presences.size > MAX_PRESENCES) {
      // Leave the least recently used session without a running turn (sessions with one stay).
      for (const [id, p] of presences) {
        if (p.turns > 0) continue;
        presences.delete(id);
        void p.presence.close().catch(() => {});
        break;
      }
    }
    held.turns++;
    if (held.turns === 1) await held.presence.update("thinking").catch(() => {});
    return held;
  };

  /** Streams `tokens` as one message through the SDK's batching writer (≤ 15 ms windows), lease-guarded by the turn. */
  const say = async (ctx: SdkTurnContext, tokens: AsyncIterable<string>) => {
    const writer = ctx.startMessage({ author });
    try {
      for await (const delta of tokens) {
        if (ctx.signal.aborted) break;
        await writer.append(delta);
      }
      await writer.end(ctx.signal.aborted ? "cancelled" : "complete");
    } catch (error) {
      await writer.end(ctx.signal.aborted ? "cancelled" : "error", String(error)).catch(() => {});
      if (!ctx.signal.aborted) throw error;
    }
  };

  const wrap = (ctx: SdkTurnContext): TurnContext => ({
    state: <T extends JsonValue = JsonValue>(name: string) => ctx.state<T>(name),
    session: ctx.session,
    turn: ctx.turn,
    text: ctx.text ?? "",
    signal: ctx.signal,
    progress: async (step, status, o = {}) => {
      await ctx.progress(step, status, o.detail, o.label === undefined ? {} : { label: o.label });
    },
    takeSteers: () => ctx.takeSteers().map((s) => s.text),
    reply: (facts) => streamReply(ctx, author, facts, (tokens) => say(ctx, tokens)),
    callClientTool: async (name, args, o = {}) => {
      const answer = await ctx.callClientTool(name, args, o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs });
      if (answer.error !== undefined) throw new Error(answer.error);
      return answer.result;
    },
    requestApproval: async (action, details, o = {}) =>
      (
        await ctx.requestApproval(action, {
          details,
          approvers: ["user"],
          ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
        })
      ).approved,
    delegate: async (target, input) => (await ctx.delegate(target, input)).turn,
    requestHuman: async (reason) => {
      await agent.publish(
        ctx.session,
        { type: "handoff", turn: ctx.turn, data: { action: "request", reason } },
        { lane: Lane.CTL },
      );
      const from = ctx.input.event.from;
      if (options.directory && from.kind === "user") {
        await agent.publish(options.directory, {
          type: "support.session",
          data: { session: ctx.session, user: from.id, text: ctx.text ?? "", wantsHuman: true },
        });
      }
    },
  });

  const server: AgentServer = await serveAgent({
    agent,
    name: options.name,
    entry: options.entry ?? false,
    concurrency: options.concurrency ?? 8,
    presence: false,
    handler: async (ctx) => {
      const from = ctx.input.event.from;
      if (options.directory && from.kind === "user" && ctx.input.event.type === "input") {
        await agent.publish(options.directory, {
          type: "support.session",
          data: { session: ctx.session, user: from.id, text: ctx.text ?? "" },
        });
      }
      const held = await enter(ctx.session);
      try {
        await options.handler(wrap(ctx));
      } finally {
        held.turns--;
        if (held.turns === 0) await held.presence.update("active").catch(() => {});
      }
    },
  });

  return {
    close: async () => {
      await server.stop({ graceMs: 2000 });
      await agent.close();
    },
  };
}
