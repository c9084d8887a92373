import { type ConsumerMessages, DeliverPolicy } from "@nats-io/jetstream";
import { checkSessionId, ErrorCode, type JsonValue, Lane, ThreadlineError } from "@threadline/protocol";
import { decodeRecord, natsError, type SubjectRecord } from "@threadline/store";
import { connectionOf } from "./agent.ts";
import type { Agent, AgentEvent, PublishAck, PublishOptions } from "./agent-api.ts";
import { controlFeedOf } from "./control-feed.ts";
import type { AgentPresence, PresenceEnterOptions } from "./presence.ts";
import type { StateHandle } from "./state-handle.ts";
import { SessionStateUser } from "./state-views.ts";

/** Events buffered per iterator for a slow reader; past it the iterator fails with `SLOW_CONSUMER`. */
export const MAX_BUFFERED_SESSION_EVENTS = 1024;

export interface OpenSessionOptions {
  /** Enter the session's presence with these options (heartbeats until `close`); `false`: don't. Default `{}`. */
  presence?: PresenceEnterOptions | false;
}

/**
 * An agent bound to one session: publishes into it, receives its input and
 * control events as they are stored, and is present in it while open.
 * @example
 *   await using s = await openSession(agent, "s1");
 *   for await (const input of s.input()) {
 *     await s.publish({ type: "note", turn: input.event.id, data: { text: "on it" } });
 *   }
 */
export interface AgentSession extends AsyncDisposable {
  readonly session: string;
  readonly presence: AgentPresence;
  /** `agent.publish(session, …)`. */
  publish<TData = unknown>(event: AgentEvent<TData>, options?: PublishOptions): Promise<PublishAck>;
  /** In-lane events (`input`, `turn.request`) stored after `openSession` resolved. */
  onInput(listener: (record: SubjectRecord) => void): () => void;
  /** Control events (`cancel`, `steer`, `tool.result`, `approval`, `handoff`) stored after `openSession` resolved. */
  onControl(listener: (record: SubjectRecord) => void): () => void;
  /** `onInput` as an async iterable (ends on `close`). */
  input(): AsyncIterable<SubjectRecord>;
  /** `onControl` as an async iterable (ends on `close`). */
  control(): AsyncIterable<SubjectRecord>;
  /**
   * A shared state object of the session (PROTOCOL.md §19), kept current
   * while the session is open; writes resolve once applied (see `StateHandle`).
   * @example
   *   const checklist = await s.state("agent-checklist");
   *   await checklist.set([], { steps: ["look up order", "refund"], done: 0 });
   */
  state<T extends JsonValue = JsonValue>(name: string): Promise<StateHandle<T>>;
  /** Leaves presence, stops both feeds and releases the state handles. Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens `session` for a session-bound agent: an ordered consumer on the
 * session's `in` lane (new events only), the agent's shared control feed
 * filtered to the session, and presence. Resolves once both feeds are live.
 */
export async function openSession(
  agent: Agent,
  session: string,
  options: OpenSessionOptions = {},
): Promise<AgentSession> {
  checkSessionId(session);
  const inputListeners = new Set<(record: SubjectRecord) => void>();
  const controlListeners = new Set<(record: SubjectRecord) => void>();
  const closeHooks = new Set<() => void>();
  const emit = (set: Set<(record: SubjectRecord) => void>, record: SubjectRecord) => {
    for (const listener of [...set]) {
      try {
        listener(record);
      } catch {
        // one listener's failure does not stop the others
      }
    }
  };
  const unsubscribeControl = await controlFeedOf(agent).subscribe(session, (r) => emit(controlListeners, r));
  let inputs: ConsumerMessages;
  try {
    const consumer = await connectionOf(agent).js.consumers.get(agent.info.stream, {
      filter_subjects: `${agent.info.subjects.prefix}.${session}.${Lane.IN}.>`,
      deliver_policy: DeliverPolicy.New,
    });
    inputs = await consumer.consume({
      callback: (m) => {
        const record = decodeRecord(agent.info.subjects, m.subject, m.seq, m.data);
        if (typeof record !== "string") emit(inputListeners, record);
      },
    });
  } catch (error) {
    unsubscribeControl();
    throw natsError(`following the input of ${session}`, error, session);
  }
  const presence = agent.presence(session);
  if (options.presence !== false) {
    await presence.enter(options.presence ?? {}).catch(async (error: unknown) => {
      unsubscribeControl();
      await inputs.close().catch(() => {});
      throw error;
    });
  }

  const state = new SessionStateUser(agent, session);
  let closing: Promise<void> | undefined;
  const listen = (set: Set<(record: SubjectRecord) => void>) => (listener: (record: SubjectRecord) => void) => {
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  };
  const iterate = (set: Set<(record: SubjectRecord) => void>): AsyncIterable<SubjectRecord> => ({
    [Symbol.asyncIterator]: () => bufferedIterator(session, listen(set), closeHooks),
  });
  const close = () => {
    closing ??= (async () => {
      unsubscribeControl();
      state.release();
      await inputs.close().catch(() => {});
      for (const hook of closeHooks) hook();
      await presence.close();
    })();
    return closing;
  };
  return {
    session,
    presence,
    publish: (event, publishOptions) => agent.publish(session, event, publishOptions),
    onInput: listen(inputListeners),
    onControl: listen(controlListeners),
    input: () => iterate(inputListeners),
    control: () => iterate(controlListeners),
    state: (name) => state.handle(name),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A listener turned into an async iterator with a bounded buffer. */
async function* bufferedIterator(
  session: string,
  subscribe: (listener: (record: SubjectRecord) => void) => () => void,
  closeHooks: Set<() => void>,
): AsyncGenerator<SubjectRecord> {
  const buffer: SubjectRecord[] = [];
  let wake: (() => void) | undefined;
  let overflow = false;
  let closed = false;
  const unsubscribe = subscribe((record) => {
    if (buffer.length >= MAX_BUFFERED_SESSION_EVENTS) overflow = true;
    else buffer.push(record);
    wake?.();
  });
  const onClose = () => {
    closed = true;
    wake?.();
  };
  closeHooks.add(onClose);
  try {
    for (;;) {
      const next = buffer.shift();
      if (next) {
        yield next;
        continue;
      }
      if (overflow) {
        throw new ThreadlineError(
          ErrorCode.SLOW_CONSUMER,
          `more than ${MAX_BUFFERED_SESSION_EVENTS} events buffered for a slow reader of ${session}`,
          { session },
        );
      }
      if (closed) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    unsubscribe();
    closeHooks.delete(onClose);
  }
}
