import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  checkSessionId,
  DEFAULT_PRESENCE_BUCKET,
  DEFAULT_PRESENCE_HEARTBEAT_MS,
  ErrorCode,
  type LeaveReason,
  MAX_PRESENCE_HEARTBEAT_MS,
  MAX_PRESENCE_NAME_LENGTH,
  MIN_PRESENCE_HEARTBEAT_MS,
  newId,
  type PresenceEntry,
  type PresenceKind,
  type PresenceMember,
  PresenceTracker,
  type PresenceTransition,
  presenceKey,
  presenceMetadataProblem,
  presenceStatusProblem,
  ThreadlineError,
} from "@threadline/protocol";
import { PresenceBucket, type PresenceFeed } from "@threadline/store";

/** Options of `agent.presence(session, options)`. */
export interface AgentPresenceOptions {
  /** Heartbeat interval, ms (the presence service times a connection out after 3 missed). Default 2000. */
  heartbeatMs?: number;
  /** Presence KV bucket. Default `"threadline-presence"`. */
  bucket?: string;
  /** Change events buffered for a slow `changes()` reader. Above it the iterator fails with `SLOW_CONSUMER`. Default 1024. */
  maxBufferedChanges?: number;
}

export interface PresenceEnterOptions {
  /** Open set, lowercase word: `active`, `idle`, `thinking`, `busy`, … Default `"active"`. */
  status?: string;
  name?: string;
  /** Small JSON object (≤ 1 KiB encoded); larger is refused with `EVENT_TOO_LARGE`. */
  metadata?: Record<string, unknown>;
}

/**
 * An agent's presence in one session: its own entry (enter / update /
 * heartbeats / leave) and the session's live member set, read from the
 * presence bucket (so it includes the agent itself once entered).
 * @example
 *   const presence = agent.presence("s1");
 *   await presence.enter({ status: "active", name: "Helper" });
 *   await presence.whenPresent("user"); // pause expensive work until a user is there
 *   await presence.leave();
 */
export interface AgentPresence extends AsyncDisposable {
  readonly session: string;
  /** This presence's connection id while entered. */
  readonly connection: string | undefined;
  /** Writes the entry and starts heartbeats. Entering again while entered updates it. */
  enter(options?: PresenceEnterOptions): Promise<void>;
  /** Changes the status (and metadata when given). Requires `enter` first. */
  update(status: string, options?: { metadata?: Record<string, unknown> }): Promise<void>;
  /** Removes the entry at once (reason `left`) and stops heartbeats. Idempotent. */
  leave(): Promise<void>;
  /**
   * The session's members as the bucket watch has delivered them (starts
   * following the bucket on first use, resolving once its snapshot is in).
   * Writes — including this agent's own — appear as soon as the watch
   * delivers them, typically within a millisecond or two.
   */
  members(): Promise<PresenceMember[]>;
  /** Subscribes to membership transitions; returns the unsubscribe function. */
  onChange(listener: (change: PresenceTransition) => void): () => void;
  /** Membership transitions from now on, as an async iterable (bounded, see `maxBufferedChanges`). */
  changes(): AsyncIterable<PresenceTransition>;
  /** Resolves once a participant of `kind` is present (at once if one is). */
  whenPresent(kind: PresenceKind, options?: { signal?: AbortSignal }): Promise<void>;
  /** Resolves once no participant of `kind` is present (at once if none is). */
  whenAbsent(kind: PresenceKind, options?: { signal?: AbortSignal }): Promise<void>;
  /** Leaves and stops following the bucket. */
  close(): Promise<void>;
}

export interface PresenceOwner {
  readonly id: string;
  readonly nc: NatsConnection;
  openBucket(name: string): Promise<KV>;
  /** Called once when the presence is closed (the owner stops tracking it). */
  released(presence: AgentPresence): void;
}

export function validatePresenceOptions(options: AgentPresenceOptions): void {
  const hb = options.heartbeatMs;
  if (hb !== undefined && (!Number.isInteger(hb) || hb < MIN_PRESENCE_HEARTBEAT_MS || hb > MAX_PRESENCE_HEARTBEAT_MS)) {
    throw new RangeError(
      `heartbeatMs must be an integer in [${MIN_PRESENCE_HEARTBEAT_MS}, ${MAX_PRESENCE_HEARTBEAT_MS}], got ${hb}`,
    );
  }
}

export class SessionPresence implements AgentPresence {
  private readonly heartbeatMs: number;
  private readonly bucket: string;
  private readonly maxBuffered: number;
  private presenceBucket: Promise<PresenceBucket> | undefined;
  private entry: PresenceEntry | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private feed: PresenceFeed | undefined;
  private readonly tracker = new PresenceTracker();
  private readonly listeners = new Set<(change: PresenceTransition) => void>();
  /** Called once on close (wakes iterators and waiters). */
  private readonly closeHooks = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly owner: PresenceOwner,
    readonly session: string,
    options: AgentPresenceOptions = {},
  ) {
    checkSessionId(session);
    validatePresenceOptions(options);
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_PRESENCE_HEARTBEAT_MS;
    this.bucket = options.bucket ?? DEFAULT_PRESENCE_BUCKET;
    this.maxBuffered = options.maxBufferedChanges ?? 1024;
  }

  get connection(): string | undefined {
    return this.entry?.connection;
  }

  async enter(options: PresenceEnterOptions = {}): Promise<void> {
    if (this.closed) throw new ThreadlineError(ErrorCode.CLOSED, "presence closed", { session: this.session });
    const status = options.status ?? "active";
    this.check(status, options.metadata);
    if (options.name !== undefined && (typeof options.name !== "string" || options.name.length > 128)) {
      throw new ThreadlineError(ErrorCode.INVALID_FRAME, `name must be a string of ≤ ${MAX_PRESENCE_NAME_LENGTH}`, {
        session: this.session,
      });
    }
    const entry: PresenceEntry = {
      kind: "agent",
      id: this.owner.id,
      connection: this.entry?.connection ?? newId(),
      status,
      since: Date.now(),
      heartbeatMs: this.heartbeatMs,
    };
    if (options.name !== undefined) entry.name = options.name;
    if (options.metadata !== undefined) entry.metadata = options.metadata;
    this.entry = entry;
    await this.write(entry);
    if (!this.timer) {
      this.timer = setInterval(() => {
        if (this.entry) void this.write(this.entry).catch(() => {});
      }, this.heartbeatMs);
      this.timer.unref?.();
    }
  }

  async update(status: string, options: { metadata?: Record<string, unknown> } = {}): Promise<void> {
    if (!this.entry) {
      throw new ThreadlineError(ErrorCode.INVALID_FRAME, "update() before enter()", { session: this.session });
    }
    this.check(status, options.metadata);
    const entry: PresenceEntry = { ...this.entry, status, since: Date.now() };
    if (options.metadata !== undefined) entry.metadata = options.metadata;
    this.entry = entry;
    await this.write(entry);
  }

  async leave(reason: LeaveReason = "left"): Promise<void> {
    const entry = this.entry;
    if (!entry) return;
    this.entry = undefined;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.write({ ...entry, gone: reason });
  }

  async members(): Promise<PresenceMember[]> {
    await this.follow();
    return this.tracker.members(this.session);
  }

  onChange(listener: (change: PresenceTransition) => void): () => void {
    this.listeners.add(listener);
    void this.follow().catch(() => {});
    return () => this.listeners.delete(listener);
  }

  changes(): AsyncIterable<PresenceTransition> {
    const self = this;
    return {
      [Symbol.asyncIterator](): AsyncIterator<PresenceTransition> {
        const queue: PresenceTransition[] = [];
        let wake: (() => void) | undefined;
        let overflow = false;
        const onClose = (): void => wake?.();
        self.closeHooks.add(onClose);
        const stopListening = self.onChange((change) => {
          if (queue.length >= self.maxBuffered) overflow = true;
          else queue.push(change);
          wake?.();
        });
        const unsubscribe = (): void => {
          stopListening();
          self.closeHooks.delete(onClose);
        };
        return {
          async next() {
            for (;;) {
              if (overflow) {
                unsubscribe();
                throw new ThreadlineError(
                  ErrorCode.SLOW_CONSUMER,
                  `more than ${self.maxBuffered} presence changes unread; call members() and iterate again`,
                  { session: self.session },
                );
              }
              const next = queue.shift();
              if (next) return { value: next, done: false };
              if (self.closed) return { value: undefined, done: true };
              await new Promise<void>((resolve) => {
                wake = resolve;
              });
              wake = undefined;
            }
          },
          async return() {
            unsubscribe();
            return { value: undefined, done: true };
          },
        };
      },
    };
  }

  whenPresent(kind: PresenceKind, options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.waitFor(() => this.tracker.hasKind(this.session, kind), options.signal);
  }

  whenAbsent(kind: PresenceKind, options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.waitFor(() => !this.tracker.hasKind(this.session, kind), options.signal);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.leave().catch(() => {});
    this.closed = true;
    this.owner.released(this);
    this.feed?.stop();
    this.listeners.clear();
    for (const hook of [...this.closeHooks]) hook();
    this.closeHooks.clear();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async waitFor(condition: () => boolean, signal: AbortSignal | undefined): Promise<void> {
    await this.follow();
    if (condition()) return;
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const onClose = (): void =>
        done(new ThreadlineError(ErrorCode.CLOSED, "presence closed", { session: this.session }));
      const done = (error?: unknown): void => {
        unsubscribe();
        this.closeHooks.delete(onClose);
        signal?.removeEventListener("abort", onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onAbort = (): void => done(signal?.reason ?? new Error("aborted"));
      const unsubscribe = this.onChange(() => {
        if (condition()) done();
      });
      this.closeHooks.add(onClose);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private follow(): Promise<void> {
    if (this.closed) return Promise.reject(new ThreadlineError(ErrorCode.CLOSED, "presence closed"));
    if (!this.feed) {
      const feed = (async () => {
        const bucket = await this.openBucket();
        return bucket.follow(`${this.session}.>`, {
          onChange: (change) => {
            const transition = change.entry
              ? this.tracker.put(change.key, change.entry)
              : this.tracker.remove(change.key, change.reason ?? "left");
            // The snapshot taken when following starts is the initial state, not a change.
            if (!transition || change.initial) return;
            for (const listener of [...this.listeners]) listener(transition);
          },
        });
      })();
      let resolved: PresenceFeed | undefined;
      this.feed = {
        ready: feed.then((f) => {
          resolved = f;
          if (this.closed) f.stop();
          return f.ready;
        }),
        stop: () => resolved?.stop(),
      };
    }
    return this.feed.ready;
  }

  /**
   * Re-writes the entry now (after a NATS reconnect: the connection's client
   * id changed, and the presence service maps disconnect advisories by it).
   */
  refresh(): void {
    if (this.entry) void this.write(this.entry).catch(() => {});
  }

  private check(status: string, metadata: unknown): void {
    const problem = presenceStatusProblem(status);
    if (problem) throw new ThreadlineError(ErrorCode.INVALID_FRAME, problem, { session: this.session });
    const metadataProblem = presenceMetadataProblem(metadata);
    if (metadataProblem) {
      const code = metadataProblem.includes("exceeds") ? ErrorCode.EVENT_TOO_LARGE : ErrorCode.INVALID_FRAME;
      throw new ThreadlineError(code, `presence ${metadataProblem}`, { session: this.session });
    }
  }

  private openBucket(): Promise<PresenceBucket> {
    this.presenceBucket ??= this.owner.openBucket(this.bucket).then((kv) => new PresenceBucket(kv, this.owner.nc));
    return this.presenceBucket;
  }

  private write(entry: PresenceEntry): Promise<void> {
    return this.openBucket().then((bucket) =>
      bucket.write(presenceKey(this.session, "agent", entry.id, entry.connection), entry),
    );
  }
}
