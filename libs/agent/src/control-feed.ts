import { type ConsumerMessages, DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Lane } from "@threadline/protocol";
import { decodeRecord, natsError, type SubjectRecord, type ThreadlineStreamInfo } from "@threadline/store";
import { connectionOf } from "./agent.ts";
import type { Agent } from "./agent-api.ts";

/** Receives every control event of one session (or of all sessions, for `"*"`), in stream order. */
export type ControlListener = (record: SubjectRecord) => void;

/** What a control feed needs of an agent (an `Agent` has all of it). */
export interface ControlFeedOwner {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly info: ThreadlineStreamInfo;
}

/**
 * ONE JetStream ordered consumer per agent connection over `<prefix>.*.ctl.>`
 * (cancel, steer, tool.result, approval, handoff of every session), delivering
 * new events only, dispatched in-process to the listeners of each session —
 * so a worker running many turns costs the server one consumer, and a cancel
 * reaches the running turn one hop after it is stored.
 *
 * It starts at the stream's last seq when the first listener subscribes
 * (`subscribe` resolves once it is live: every control event stored after
 * that reaches the listener). The client library recreates the ordered
 * consumer from the last delivered seq on a gap; after a NATS reconnect the
 * feed restarts it at once from there. Events are decoded only for
 * sessions with listeners. The consumer is closed when the last listener
 * unsubscribes.
 */
export class ControlFeed {
  private readonly listeners = new Map<string, Set<ControlListener>>();
  private lastSeq = 0;
  private messages: ConsumerMessages | undefined;
  private starting: Promise<void> | undefined;
  private following = false;

  constructor(private readonly owner: ControlFeedOwner) {}

  /** Adds a listener for `session` (`"*"`: every session); resolves with its unsubscribe function once live. */
  async subscribe(session: string, listener: ControlListener): Promise<() => void> {
    let set = this.listeners.get(session);
    if (!set) {
      set = new Set();
      this.listeners.set(session, set);
    }
    set.add(listener);
    const unsubscribe = () => {
      const current = this.listeners.get(session);
      if (!current?.delete(listener)) return;
      if (current.size === 0) this.listeners.delete(session);
      if (this.listeners.size === 0) this.stop();
    };
    try {
      this.starting ??= this.start();
      await this.starting;
    } catch (error) {
      unsubscribe();
      throw error;
    }
    return unsubscribe;
  }

  private async start(): Promise<void> {
    try {
      const state = (await this.owner.jsm.streams.info(this.owner.info.stream)).state;
      await this.consumeFrom(state.last_seq);
    } catch (error) {
      this.starting = undefined;
      throw natsError("opening the control feed", error);
    }
    this.followReconnects();
  }

  private stop(): void {
    const messages = this.messages;
    this.messages = undefined;
    this.starting = undefined;
    void messages?.close().catch(() => {});
  }

  private followReconnects(): void {
    if (this.following) return;
    this.following = true;
    void (async () => {
      for await (const status of this.owner.nc.status()) {
        if (status.type !== "reconnect" || !this.messages) continue;
        // The library would only notice after missed heartbeats (seconds); resume now instead.
        const old = this.messages;
        await this.consumeFrom(this.lastSeq).catch(() => {});
        void old.close().catch(() => {});
      }
    })().catch(() => {});
  }

  private async consumeFrom(after: number): Promise<void> {
    if (this.lastSeq < after) this.lastSeq = after;
    const { info } = this.owner;
    const consumer = await this.owner.js.consumers.get(info.stream, {
      filter_subjects: `${info.subjects.prefix}.*.${Lane.CTL}.>`,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.lastSeq + 1,
    });
    this.messages = await consumer.consume({
      max_messages: 1024,
      callback: (m) => {
        if (m.seq <= this.lastSeq) return;
        this.lastSeq = m.seq;
        // Subjects are <prefix>.<session>.ctl.<kind>.<id>: the session is the second token.
        const start = m.subject.indexOf(".") + 1;
        const session = m.subject.slice(start, m.subject.indexOf(".", start));
        const own = this.listeners.get(session);
        const all = this.listeners.get("*");
        if (!own && !all) return;
        const record = decodeRecord(info.subjects, m.subject, m.seq, m.data);
        if (typeof record === "string") return;
        for (const listener of [...(own ?? []), ...(all ?? [])]) {
          try {
            listener(record);
          } catch {
            // a listener's failure must not stop the feed for the others
          }
        }
      },
    });
  }
}

const feeds = new WeakMap<Agent, ControlFeed>();

/** The control feed of an agent connection, created on first use and shared by everything using that agent. */
export function controlFeedOf(agent: Agent): ControlFeed {
  let feed = feeds.get(agent);
  if (!feed) {
    feed = new ControlFeed({ ...connectionOf(agent), info: agent.info });
    feeds.set(agent, feed);
  }
  return feed;
}
