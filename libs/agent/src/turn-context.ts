import {
  type JsonValue,
  Lane,
  newId,
  type ProgressData,
  type ProgressStatus,
  TurnEventType,
  type TurnRequestData,
  type TurnResumedReason,
} from "@threadline/protocol";
import type { ControlState, SubjectRecord, TurnRecord } from "@threadline/store";
import type { Agent, AgentEvent, PublishAck } from "./agent-api.ts";
import {
  type ApprovalAnswer,
  type ApprovalOptions,
  approvalAnswer,
  type CallOptions,
  callTimeout,
  clientCall,
  type ToolAnswer,
  toolAnswer,
} from "./client-call.ts";
import { type MessageWriter, type MessageWriterOptions, startMessage } from "./message-writer.ts";
import type { RunningTurn, Steer } from "./running-turn.ts";
import type { StateHandle } from "./state-handle.ts";
import type { SessionStateUser } from "./state-views.ts";
import { waitForTurnEnd } from "./turn-watch.ts";

/** Set on `ctx.resumed` when this worker took the turn over from another one. */
export interface ResumedInfo {
  previousWorker: string;
  reason: TurnResumedReason;
  /** 1 for the first takeover. */
  attempt: number;
  /** Ids of the previous worker's open messages, now ended with status `interrupted`. */
  interrupted: string[];
}

/** A sub-agent turn started with `ctx.delegate`. */
export interface DelegatedTurn {
  /** The sub-turn's id (also the `turn.request` event id). */
  readonly turn: string;
  /** Resolves with the sub-turn's final control entry (`completed`, `cancelled`, `failed`, `interrupted`). */
  done(options?: { signal?: AbortSignal }): Promise<TurnRecord>;
}

/** Options of `ctx.history()`. */
export interface TurnHistoryOptions {
  /** Keep at most the newest `limit` events. Default 10000. */
  limit?: number;
}

/**
 * What a turn handler gets: the triggering event, live control (`signal`,
 * `steering`), client calls, progress, delegation and publishing into the
 * session — every event it publishes carries `turn`.
 * @example
 *   serveAgent({ agent, name: "helper", entry: true, async handler(ctx) {
 *     await ctx.progress("search", "running");
 *     const where = await ctx.callClientTool("geolocation", {}, { timeoutMs: 10_000 });
 *     if (ctx.signal.aborted) return;
 *     await ctx.publish({ type: "note", data: { text: `you are at ${JSON.stringify(where.result)}` } });
 *   }});
 */
export interface TurnContext {
  readonly session: string;
  readonly turn: string;
  /** The pool name. */
  readonly agent: string;
  /** This worker's id. */
  readonly worker: string;
  /** The `input` or `turn.request` event that started the turn. */
  readonly input: SubjectRecord;
  /** `data.text` of a user input, `data.input.text` of a turn.request. */
  readonly text: string | undefined;
  readonly parent: string | undefined;
  /** Root first, parent last (empty for a root turn). */
  readonly ancestors: readonly string[];
  /**
   * Fires when a `cancel` of this turn or of an ancestor is stored (from any
   * device), with a `ThreadlineError(TURN_ENDED)` as reason; also when this
   * worker lost the turn's lease (another worker took it over).
   */
  readonly signal: AbortSignal;
  /** Steer messages for this turn as they arrive; ends when the turn ends. One reader at a time. */
  readonly steering: AsyncIterable<Steer>;
  /** Steer messages received and not yet read, removed from the buffer (for polling between steps). */
  takeSteers(): Steer[];
  /** Set when this worker took the turn over from a worker that crashed or stalled. */
  readonly resumed: ResumedInfo | undefined;
  /** The session's stored events so far (all lanes, including this turn's own). */
  history(options?: TurnHistoryOptions): Promise<SubjectRecord[]>;
  /** Publishes an event of this turn (lane `out`; `turn` is set). */
  publish<TData = unknown>(event: Omit<AgentEvent<TData>, "turn">): Promise<PublishAck>;
  /**
   * Streams a message of this turn (`message.start` now; see `startMessage`):
   * the writer's `turn` is this turn and its `signal` is `ctx.signal`, so a
   * cancel ends the message `cancelled`.
   * @example
   *   const reply = ctx.startMessage();
   *   for await (const token of model) await reply.append(token);
   *   await reply.end("complete");
   */
  startMessage(options?: Omit<MessageWriterOptions, "turn">): MessageWriter;
  /** Structured progress: clients fold by (turn, step), later events replace earlier ones. */
  progress(step: string, status: ProgressStatus, detail?: string, options?: { label?: string }): Promise<PublishAck>;
  /** A tool call addressed to the session's clients; resolves with the first accepted `tool.result`. */
  callClientTool(name: string, args: unknown, options?: CallOptions): Promise<ToolAnswer>;
  /** Asks a human (`approvers`, default user or operator) to approve `action`; resolves with the first accepted answer. */
  requestApproval(action: string, options?: ApprovalOptions): Promise<ApprovalAnswer>;
  /**
   * Starts a sub-agent turn: pool `agent` receives a `turn.request` (lane
   * `in`) with this turn as parent and publishes under its own identity.
   * Cancelling this turn cancels it too.
   */
  delegate(agent: string, input: TurnRequestData["input"]): Promise<DelegatedTurn>;
  /**
   * A shared state object of the session (PROTOCOL.md §19): the user's app
   * context (`page`, `cart`…) or the agent's own (`agent-checklist`). The
   * handle's value includes every state change stored before this turn's
   * input, and stays current while the turn runs (`waitFor` a change). Writes
   * are checked against the turn's lease like `publish`. Handles stop working
   * when the turn ends; the session's view is shared by its turns in this
   * process (see the README, "Shared state").
   * @example
   *   const page = await ctx.state<{ productId: string }>("page");
   *   const product = page.get()?.productId;
   */
  state<T extends JsonValue = JsonValue>(name: string): Promise<StateHandle<T>>;
}

export interface TurnContextParts {
  agent: Agent;
  control: ControlState;
  running: RunningTurn;
  pool: string;
  worker: string;
  input: SubjectRecord;
  parent: string | undefined;
  resumed: ResumedInfo | undefined;
  /** Runs before every publish of the turn; throws when the worker lost the turn (see `TurnLease.guard`). */
  guard: () => Promise<void>;
  /** The turn's state handles (the runner releases them when the turn ends). */
  state: SessionStateUser;
}

const DEFAULT_HISTORY_LIMIT = 10_000;

export function createTurnContext(parts: TurnContextParts): TurnContext {
  const { agent, control, running, input } = parts;
  const session = running.session;
  const turn = running.turn;
  const publish = async <TData>(event: Omit<AgentEvent<TData>, "turn">) => {
    await parts.guard();
    return agent.publish(session, { ...event, turn });
  };
  const host = { session, running, control, publish };
  const data = input.event.data as { text?: unknown; input?: { text?: unknown } } | undefined;
  const text = input.event.type === TurnEventType.REQUEST ? data?.input?.text : data?.text;
  return {
    session,
    turn,
    agent: parts.pool,
    worker: parts.worker,
    input,
    text: typeof text === "string" ? text : undefined,
    parent: parts.parent,
    ancestors: running.ancestors,
    signal: running.signal,
    steering: { [Symbol.asyncIterator]: () => running.steering() },
    takeSteers: () => running.takeSteers(),
    resumed: parts.resumed,
    async history(options = {}) {
      const limit = options.limit ?? DEFAULT_HISTORY_LIMIT;
      const out: SubjectRecord[] = [];
      for await (const record of agent.history(session)) {
        out.push(record);
        if (out.length > limit) out.shift();
      }
      return out;
    },
    publish,
    startMessage(options = {}) {
      const publisher = { id: agent.id, kind: agent.kind, publish: (_: string, event: AgentEvent) => publish(event) };
      return startMessage(publisher, session, { signal: running.signal, ...options, turn });
    },
    progress(step, status, detail, options = {}) {
      const progress: ProgressData = { step, status };
      if (options.label !== undefined) progress.label = options.label;
      if (detail !== undefined) progress.detail = detail;
      return publish({ type: TurnEventType.PROGRESS, data: progress });
    },
    async callClientTool(name, args, options = {}) {
      if (typeof name !== "string" || name.length === 0) throw new TypeError("tool name must be a non-empty string");
      const record = await clientCall(host, { kind: "tool", name, args }, callTimeout(options.timeoutMs));
      return toolAnswer(record);
    },
    async requestApproval(action, options = {}) {
      if (typeof action !== "string" || action.length === 0) throw new TypeError("action must be a non-empty string");
      const approvers = options.approvers ?? ["user", "operator"];
      const record = await clientCall(
        host,
        { kind: "approval", action, approvers, ...(options.details === undefined ? {} : { details: options.details }) },
        callTimeout(options.timeoutMs),
      );
      return approvalAnswer(record);
    },
    async delegate(target, request) {
      running.signal.throwIfAborted();
      const sub = newId();
      const ancestors = [...running.ancestors, turn];
      await control.createTurn(session, sub, {
        status: "pending",
        agent: target,
        parent: turn,
        ancestors,
        updatedAt: Date.now(),
      });
      const requestData: TurnRequestData = { agent: target, parent: turn, ancestors, input: request };
      await parts.guard();
      await agent.publish(
        session,
        { type: TurnEventType.REQUEST, id: sub, turn: sub, data: requestData },
        { lane: Lane.IN },
      );
      return {
        turn: sub,
        done: (options = {}) => waitForTurnEnd(control, session, sub, options.signal),
      };
    },
    state: (name) => parts.state.handle(name, input.seq),
  };
}
