import { DeliverPolicy } from "@nats-io/jetstream";
import { type Agent, type AgentPresence, connectAgent, type SubjectRecord } from "@threadline/agent";
import { decodeMsgpack, newId, type Participant, type SessionEvent } from "@threadline/protocol";

/**
 * The demo agents' turn runtime: one agent pool (PROTOCOL.md §17 worker
 * pools) on the agent SDK. Entry pools take user `input`; every pool takes
 * `turn.request` events addressed to its name. Each turn gets an AbortSignal
 * fired by a `cancel` of the turn or of one of its ancestors, structured
 * progress, streamed messages, client tool calls and delegation to other pools.
 *
 * Control events reach the pool through one ordered consumer on
 * `<prefix>.*.ctl.>` (new events only). While an operator owns a session
 * (`handoff take`, until `release`), entry pools leave user input unanswered.
 */
export interface TurnContext {
  readonly session: string;
  readonly turn: string;
  /** Who wrote the input (the user, or the agent that delegated). */
  readonly from: Participant;
  readonly input: { text: string } & Record<string, unknown>;
  readonly parent: string | undefined;
  readonly ancestors: readonly string[];
  /** Fired by a `cancel` for this turn or an ancestor, from any device. */
  readonly signal: AbortSignal;
  /** Publishes a `progress` event (folded by step on clients). */
  progress(step: string, status: "running" | "done" | "failed" | "skipped", options?: StepOptions): Promise<void>;
  /** Streams one assistant message from `tokens`; ends `cancelled` when the turn is cancelled mid-stream. */
  say(tokens: AsyncIterable<string> | string): Promise<void>;
  /** Publishes a `tool.call` to the session's clients and resolves with the first `tool.result`. */
  callClientTool(name: string, args: unknown, options?: { timeoutMs?: number }): Promise<unknown>;
  /** Starts a sub-agent turn in pool `agent` (a `turn.request` in the `in` lane); resolves with its turn id. */
  delegate(agent: string, input: { text: string } & Record<string, unknown>): Promise<string>;
}

export interface StepOptions {
  label?: string;
  detail?: string;
}

export interface PoolOptions {
  /** Pool name: the durable consumer's name and `turn.request` target; also the worker's participant id. */
  name: string;
  /** Display name in messages and presence. */
  displayName: string;
  /** Takes user/operator `input` (the triage agent). */
  entry?: boolean;
  /**
   * Entry pools: a session that lists the support conversations. For every
   * user input the pool publishes `support.session` `{ session, user, text }`
   * there (the operator console follows it).
   */
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

interface RunningTurn {
  session: string;
  ids: ReadonlySet<string>;
  abort: AbortController;
}

/** Presences kept per pool; the least recently used one leaves first beyond this. */
const MAX_PRESENCES = 200;
/** Sessions whose owner is remembered; the oldest is forgotten first beyond this. */
const MAX_OWNERS = 10_000;
const DEFAULT_TOOL_TIMEOUT_MS = 30_000;

export async function servePool(options: PoolOptions): Promise<Pool> {
  const agent = await connectAgent({
    servers: options.servers,
    id: options.name,
    provision: false,
    ...(options.user ? { user: options.user, pass: options.pass } : {}),
  });
  const running = new Set<RunningTurn>();
  const owners = new Map<string, string | null>();
  const toolWaiters = new Map<string, (event: SessionEvent) => void>();
  const presences = new Map<string, AgentPresence>();
  const author = { kind: "agent", id: options.name, name: options.displayName };

  const presenceIn = async (session: string): Promise<AgentPresence> => {
    let presence = presences.get(session);
    if (presence) {
      presences.delete(session);
      presences.set(session, presence);
      return presence;
    }
    presence = agent.presence(session);
    presences.set(session, presence);
    await presence.enter({ status: "active", name: options.displayName });
    if (presences.size > MAX_PRESENCES) {
      const [oldest, p] = presences.entries().next().value as [string, AgentPresence];
      presences.delete(oldest);
      void p.close();
    }
    return presence;
  };

  const control = await followControl(agent, (session, event) => {
    const data = (event.data ?? {}) as Record<string, unknown>;
    if (event.type === "cancel" && event.turn) {
      for (const t of running) if (t.session === session && t.ids.has(event.turn)) t.abort.abort();
    } else if (event.type === "tool.result" && event.ref) {
      toolWaiters.get(event.ref)?.(event);
    } else if (event.type === "handoff" && event.from.kind === "operator") {
      if (data.action === "take") owners.set(session, event.from.id);
      else if (data.action === "release") owners.set(session, null);
      if (owners.size > MAX_OWNERS) owners.delete(owners.keys().next().value as string);
    }
  });

  const runTurn = async (record: SubjectRecord, input: TurnContext["input"], turn: string, lineage: string[]) => {
    const { session } = record;
    const parent = lineage.at(-1);
    const abort = new AbortController();
    const entry: RunningTurn = { session, ids: new Set([turn, ...lineage]), abort };
    running.add(entry);
    const publish = (event: Parameters<Agent["publish"]>[1]) => agent.publish(session, { turn, ...event });
    const presence = await presenceIn(session);
    await presence.update("thinking").catch(() => {});
    await publish({
      type: "turn.start",
      ref: record.event.id,
      data: { agent: options.name, worker: options.name, ...(parent ? { parent, ancestors: lineage } : {}) },
    });
    const ctx: TurnContext = {
      session,
      turn,
      from: record.event.from,
      input,
      parent,
      ancestors: lineage,
      signal: abort.signal,
      progress: async (step, status, o = {}) => {
        await publish({ type: "progress", data: { step, status, ...o } });
      },
      say: async (tokens) => {
        const id = newId();
        await publish({ type: "message.start", ref: id, data: { id, role: "assistant", author } });
        let status = "complete";
        try {
          for await (const delta of typeof tokens === "string" ? [tokens] : tokens) {
            if (abort.signal.aborted) break;
            await publish({ type: "message.append", ref: id, data: { part: 0, delta } });
          }
          if (abort.signal.aborted) status = "cancelled";
        } catch (error) {
          status = abort.signal.aborted ? "cancelled" : "error";
          if (!abort.signal.aborted) throw error;
        } finally {
          await publish({ type: "message.end", ref: id, data: { status } });
        }
      },
      callClientTool: (name, args, o = {}) => {
        const call = newId();
        const timeoutMs = o.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS;
        return new Promise<unknown>((resolve, reject) => {
          const close = (reason: string) => {
            clearTimeout(timer);
            toolWaiters.delete(call);
            abort.signal.removeEventListener("abort", onAbort);
            void publish({ type: "call.closed", ref: call, data: { call, reason } }).catch(() => {});
          };
          const onAbort = () => {
            close("cancelled");
            reject(new Error(`tool ${name} cancelled`));
          };
          const timer = setTimeout(() => {
            close("timeout");
            reject(new Error(`tool ${name} timed out after ${timeoutMs} ms`));
          }, timeoutMs);
          abort.signal.addEventListener("abort", onAbort, { once: true });
          toolWaiters.set(call, (event) => {
            close("answered");
            const data = (event.data ?? {}) as { result?: unknown; error?: unknown };
            if (typeof data.error === "string") reject(new Error(data.error));
            else resolve(data.result);
          });
          publish({ type: "tool.call", ref: call, data: { call, name, args, timeoutMs } }).catch(reject);
        });
      },
      delegate: async (target, childInput) => {
        const child = newId();
        await agent.publish(
          session,
          {
            id: child,
            type: "turn.request",
            turn: child,
            data: { agent: target, parent: turn, ancestors: [...lineage, turn], input: childInput },
          },
          { lane: "in" },
        );
        return child;
      },
    };
    let end: Record<string, unknown> = { status: "completed" };
    try {
      await options.handler(ctx);
      if (abort.signal.aborted) end = { status: "cancelled" };
    } catch (error) {
      end = abort.signal.aborted
        ? { status: "cancelled" }
        : { status: "failed", error: error instanceof Error ? error.message : String(error) };
    } finally {
      running.delete(entry);
      await publish({ type: "turn.end", data: end });
      await presence.update("active").catch(() => {});
    }
  };

  const consumer = await agent.consumeInput(
    async (record) => {
      const { event } = record;
      const data = (event.data ?? {}) as Record<string, unknown>;
      if (event.type === "input" && options.entry) {
        // Operators talk to the customer themselves; while one owns the session the agents stay silent.
        if (event.from.kind !== "user") return;
        const text = typeof data.text === "string" ? data.text : "";
        if (options.directory && options.directory !== record.session) {
          await agent.publish(options.directory, {
            type: "support.session",
            data: { session: record.session, user: event.from.id, text },
          });
        }
        if (owners.get(record.session)) return;
        await runTurn(record, { ...data, text }, event.id, []);
      } else if (event.type === "turn.request" && data.agent === options.name) {
        const input = (data.input ?? {}) as Record<string, unknown>;
        const lineage = Array.isArray(data.ancestors) ? data.ancestors.filter((a) => typeof a === "string") : [];
        const text = typeof input.text === "string" ? input.text : "";
        await runTurn(record, { ...input, text }, event.turn ?? event.id, lineage);
      }
    },
    { durable: options.name, concurrency: options.concurrency ?? 8 },
  );

  return {
    close: async () => {
      for (const t of running) t.abort.abort();
      await consumer.stop();
      control.close();
      await agent.close();
    },
  };
}

/** Follows every session's `ctl` lane from now on (one ordered consumer). */
async function followControl(
  agent: Agent,
  onEvent: (session: string, event: SessionEvent) => void,
): Promise<{ close(): void }> {
  const consumer = await agent.js.consumers.get(agent.info.stream, {
    filter_subjects: `${agent.info.subjects.prefix}.*.ctl.>`,
    deliver_policy: DeliverPolicy.New,
  });
  const messages = await consumer.consume({
    callback: (m) => {
      // Subjects are <prefix>.<session>.<lane>.<kind>.<id>.
      const session = m.subject.split(".")[1];
      if (!session) return;
      try {
        onEvent(session, decodeMsgpack(m.data) as SessionEvent);
      } catch (error) {
        console.error(`${agent.id}: undecodable control event at seq ${m.seq}:`, error);
      }
    },
  });
  return { close: () => void messages.close().catch(() => {}) };
}
