import { ErrorCode, type Subjects, ThreadlineError } from "@threadline/protocol";
import {
  type BurstMark,
  type ControlState,
  type HistoryReader,
  type NotificationMarks,
  type NotificationPreferences,
  type NotificationPrefs,
  type NotificationRate,
  notificationId,
  type PresenceBucket,
  type StoredMessage,
  type Versioned,
  wantsNotification,
} from "@threadline/store";
import type { pino } from "pino";
import { type AudienceCache, type SessionAudience, usersBefore } from "./audience.ts";
import { decideBurst } from "./burst.ts";
import type { NotifierConfig } from "./config.ts";
import { type DeliveryDeps, deliverNotification, type Reservation } from "./delivery.ts";
import type { NotifierMetrics, SkipReason } from "./metrics.ts";
import { buildNotificationPayload } from "./payload.ts";
import { delayUntil, dueAt, isStale, triggerWindow } from "./schedule.ts";
import { classifyTrigger, type Trigger } from "./trigger.ts";
import { readSessionTriggers } from "./trigger-window.ts";
import { readTurnText } from "./turn-text.ts";
import { pushUrgency } from "./web-push.ts";

/** What the consumer does with a message once handled. */
export type Disposition = { action: "ack" } | { action: "nak"; delayMs: number };

/** What happened to a trigger, for one user (or for all, without `user`): the notifier's observable decisions. */
export interface Outcome {
  session: string;
  seq: number;
  user?: string;
  /** `waiting`: not due yet (redelivered when due); the others are per user. */
  outcome: "waiting" | "sent" | "collapsed" | "covered" | "deferred" | "skipped" | "held";
  reason?: SkipReason;
  /** `sent`: triggers the notification stands for. */
  count?: number;
}

export interface HandlerDeps {
  config: NotifierConfig;
  /** A trigger redelivered older than this is dropped: the notify bucket (TTL) may have forgotten its claims and mark. */
  forgetAfterMs: number;
  subjects: Subjects;
  /** The stream's epoch (notification ids and positions). */
  epoch: string;
  reader: HistoryReader;
  audience: AudienceCache;
  presence: PresenceBucket;
  control: ControlState;
  prefs: NotificationPreferences;
  marks: NotificationMarks<Reservation>;
  rate: NotificationRate;
  delivery: DeliveryDeps;
  metrics: NotifierMetrics;
  log: pino.Logger;
  now: () => number;
  emit: (outcome: Outcome) => void;
}

const ACK: Disposition = { action: "ack" };
/** Rounds of read → decide → compare-and-set on one burst mark before giving up for now (redelivered later). */
const MARK_ROUNDS = 5;
/** Users of one trigger settled at once. */
const USERS_AT_ONCE = 8;

type UserResult = { done: true } | { done: false; retryAt: number };

/**
 * Handles one delivery of a stored message (see README "How it works"):
 * not a trigger → ack; first seen: stale → dropped, users present → their
 * burst mark moves past it; not due → nak until due; due → per user of the
 * audience: resume a reserved notification, or settle (present, muted,
 * answered), collapse, or send (rate limit, reserve in the burst mark,
 * deliver under claims). Ack once every user is done; else nak until the
 * earliest retry (rate window, a claim another replica holds).
 */
export function createTriggerHandler(deps: HandlerDeps) {
  return async (
    message: StoredMessage,
    firstDelivery: boolean,
    signal: AbortSignal,
    step: (name: string) => void = () => {},
  ): Promise<Disposition> => {
    const trigger = classifyTrigger(deps.subjects, message);
    if (!trigger) return ACK;
    const { metrics, config } = deps;
    const at = { session: trigger.session, seq: trigger.seq };
    if (firstDelivery) metrics.triggers.inc({ kind: trigger.kind });
    if (isStale(trigger, deps.now(), firstDelivery ? config.maxAgeMs : deps.forgetAfterMs)) {
      metrics.skipped.inc({ reason: "stale" });
      deps.emit({ ...at, outcome: "skipped", reason: "stale" });
      return ACK;
    }
    step("audience");
    const audience = await deps.audience.audience(trigger.session, trigger.seq);
    const users = usersBefore(audience, trigger.seq);
    if (audience.capped && firstDelivery) {
      deps.log.warn(
        { session: trigger.session },
        "more users wrote to this session than the notifier keeps; later ones are not notified",
      );
    }
    if (users.length === 0) {
      metrics.skipped.inc({ reason: "no_audience" });
      deps.emit({ ...at, outcome: "skipped", reason: "no_audience" });
      return ACK;
    }
    const handling = new Handling(deps, trigger, audience, signal, step);
    const waiting: string[] = [];
    for (const user of users) {
      // Present when first seen: they saw it live. Their mark moves past it now, so nothing later collapses into it.
      if (firstDelivery && (await handling.present(user))) await handling.settlePresent(user);
      else waiting.push(user);
    }
    if (waiting.length === 0) return ACK;
    const due = dueAt(trigger, config.delayMs);
    if (deps.now() < due) {
      deps.emit({ ...at, outcome: "waiting" });
      return { action: "nak", delayMs: delayUntil(due, deps.now()) };
    }
    let retryAt = Number.POSITIVE_INFINITY;
    // Users at once, so one user's slow webhook does not hold the others back.
    const queue = [...waiting];
    const worker = async () => {
      for (let user = queue.shift(); user !== undefined; user = queue.shift()) {
        const result = await handling.settle(user);
        if (!result.done) retryAt = Math.min(retryAt, result.retryAt);
      }
    };
    await Promise.all(Array.from({ length: Math.min(USERS_AT_ONCE, queue.length) }, worker));
    return retryAt === Number.POSITIVE_INFINITY ? ACK : { action: "nak", delayMs: delayUntil(retryAt, deps.now()) };
  };
}

/** One delivery of one trigger: what it read once (presence, the window, call states) is shared by its users. */
class Handling {
  private members: Promise<Set<string>> | undefined;
  private window: { after: number; since: number; triggers: Promise<Trigger[]> } | undefined;
  private readonly calls = new Map<string, Promise<boolean>>();
  private turnText: Promise<string | undefined> | undefined;

  constructor(
    private readonly deps: HandlerDeps,
    private readonly trigger: Trigger,
    private readonly audience: SessionAudience,
    private readonly signal: AbortSignal,
    /** Names what the handling does now (a shutdown that gives up on it reports the last one). */
    private readonly step: (name: string) => void,
  ) {}

  /** Whether a device of `user` is attached to the session (presence bucket, kind `user`). */
  present(user: string): Promise<boolean> {
    this.step(`presence ${user}`);
    this.members ??= this.deps.presence
      .members(this.trigger.session)
      .then((members) => new Set(members.filter((m) => m.kind === "user").map((m) => m.id)));
    return this.members.then((ids) => ids.has(user));
  }

  /** Moves the user's mark past the trigger (they saw it live). */
  async settlePresent(user: string): Promise<void> {
    const { marks } = this.deps;
    for (let round = 0; round < MARK_ROUNDS; round++) {
      const read = await marks.get(this.trigger.session, user);
      if (read.value.seq >= this.trigger.seq) return;
      if (await marks.advance(this.trigger.session, user, read, this.trigger)) {
        this.skip(user, "present");
        return;
      }
    }
    throw markContended(this.trigger, user);
  }

  /** Decides and delivers for one user whose trigger is due. */
  async settle(user: string): Promise<UserResult> {
    const { deps, trigger } = this;
    for (let round = 0; round < MARK_ROUNDS; round++) {
      this.step(`mark ${user}`);
      const read = await deps.marks.get(trigger.session, user);
      const reserved = read.value.pending.find((p) => p.seq === trigger.seq);
      if (reserved) return this.deliver(user, reserved.payload);
      if (read.value.seq >= trigger.seq) {
        deps.emit({ session: trigger.session, seq: trigger.seq, user, outcome: "covered" });
        return { done: true };
      }
      if (await this.present(user)) {
        if (!(await deps.marks.advance(trigger.session, user, read, trigger))) continue;
        this.skip(user, "present");
        return { done: true };
      }
      const result = await this.decide(user, read);
      if (result !== "lost-race") return result;
    }
    throw markContended(trigger, user);
  }

  private async decide(user: string, read: Versioned<BurstMark<Reservation>>): Promise<UserResult | "lost-race"> {
    const { deps, trigger } = this;
    this.step(`decide ${user}`);
    const prefs = (await deps.prefs.get(user)).value;
    const counting = await this.counting(user, prefs, read.value);
    const decision = decideBurst(trigger, counting, deps.config.collapseMaxMs);
    const own = counting.includes(trigger);
    if (!own && decision.action !== "send") {
      this.skip(user, wantsNotification(prefs, trigger.session, trigger.kind) ? "answered" : "muted");
      return { done: true };
    }
    if (decision.action === "skip") return { done: true };
    if (decision.action === "collapse") {
      deps.metrics.collapsed.inc();
      deps.emit({ session: trigger.session, seq: trigger.seq, user, outcome: "collapsed" });
      return { done: true };
    }
    if (!(await this.hasChannel(user))) {
      this.skip(user, "no_channel");
      return { done: true };
    }
    this.step(`rate ${user}`);
    const rate = await deps.rate.take(user, {
      limit: deps.config.userRate,
      windowMs: deps.config.userRateWindowMs,
    });
    if (!rate.allowed) {
      deps.metrics.deferred.inc();
      deps.emit({ session: trigger.session, seq: trigger.seq, user, outcome: "deferred" });
      return { done: false, retryAt: rate.retryAt };
    }
    this.step(`reserve ${user}`);
    const reservation = await this.reservation(user, decision.members);
    const written = await deps.marks.advance(trigger.session, user, read, trigger, {
      payload: reservation,
      at: deps.now(),
    });
    if (!written) return "lost-race";
    for (const dropped of written.dropped) {
      deps.log.warn(
        { session: trigger.session, user, seq: dropped.seq },
        "dropped an old reserved notification (limit)",
      );
    }
    return this.deliver(user, reservation);
  }

  /** Triggers after the user's mark that count for them, in seq order (see `decideBurst`). */
  private async counting(user: string, prefs: NotificationPrefs, mark: BurstMark<Reservation>): Promise<Trigger[]> {
    const { deps, trigger } = this;
    const window = triggerWindow(trigger, mark, deps.config.maxAgeMs);
    const first = this.audience.users.get(user) ?? Number.POSITIVE_INFINITY;
    const all = (await this.triggers(window)).filter((c) => c.seq > window.after && c.ts >= window.since);
    // The window holds this very trigger unless a clock step put it before `since`: keep it in any case.
    const candidates = all.some((c) => c.seq === trigger.seq) ? all : [...all, trigger].sort((a, b) => a.seq - b.seq);
    const counted: Trigger[] = [];
    for (const c of candidates) {
      const self = c.seq === trigger.seq ? trigger : c;
      if (first < self.seq && wantsNotification(prefs, self.session, self.kind) && (await this.callOpen(self))) {
        counted.push(self);
      }
    }
    return counted;
  }

  /** The session's triggers for a window, read once per handling (a later read for a narrower window filters it). */
  private triggers(window: { after: number; since: number }): Promise<Trigger[]> {
    const cached = this.window;
    if (cached && cached.after <= window.after && cached.since <= window.since) return cached.triggers;
    const { deps, trigger } = this;
    const triggers = readSessionTriggers(deps.reader, deps.subjects, trigger.session, {
      ...window,
      until: trigger.seq,
    });
    this.window = { ...window, triggers };
    return triggers;
  }

  /** A call still waits for an answer: its control key is `pending` and its deadline is ahead. Other triggers: true. */
  private callOpen(c: Trigger): Promise<boolean> {
    if (c.call === undefined) return Promise.resolve(true);
    let open = this.calls.get(c.call);
    if (!open) {
      open = this.deps.control.getCall(c.session, c.call).then((entry) => {
        const deadline = entry?.value.deadline ?? c.deadline ?? Number.POSITIVE_INFINITY;
        return (entry === undefined || entry.value.status === "pending") && deadline > this.deps.now();
      });
      this.calls.set(c.call, open);
    }
    return open;
  }

  private async hasChannel(user: string): Promise<boolean> {
    const { delivery } = this.deps;
    if (delivery.webhook) return true;
    return delivery.push !== undefined && (await delivery.subscriptions.list(user)).length > 0;
  }

  private async reservation(user: string, members: Trigger[]): Promise<Reservation> {
    const { deps } = this;
    const last = members.at(-1) as Trigger;
    let turnText: string | undefined;
    if (members.length === 1 && last.kind === "turn.end" && last.status === "completed") {
      this.turnText ??= readTurnText(deps.reader, deps.subjects, deps.control, last, deps.config.maxAgeMs);
      turnText = await this.turnText;
    }
    const payload = buildNotificationPayload({
      id: notificationId({ epoch: deps.epoch, session: last.session, seq: last.seq, user }),
      epoch: deps.epoch,
      user,
      members,
      ...(turnText === undefined ? {} : { turnText }),
      ...(deps.config.openUrl === undefined ? {} : { openUrl: deps.config.openUrl }),
    });
    return {
      payload,
      urgency: pushUrgency(members),
      ...(last.deadline === undefined ? {} : { deadline: last.deadline }),
    };
  }

  private async deliver(user: string, reservation: Reservation): Promise<UserResult> {
    const { deps, trigger } = this;
    this.step(`deliver ${user}`);
    const result = await deliverNotification(deps.delivery, reservation, this.signal);
    const at = { session: trigger.session, seq: trigger.seq, user };
    if (!result.done) {
      deps.emit({ ...at, outcome: "held" });
      return result;
    }
    this.step(`settle ${user}`);
    await deps.marks.settle(trigger.session, user, trigger.seq);
    deps.emit({ ...at, outcome: "sent", count: reservation.payload.count });
    return result;
  }

  private skip(user: string, reason: SkipReason): void {
    this.deps.metrics.skipped.inc({ reason });
    this.deps.emit({ session: this.trigger.session, seq: this.trigger.seq, user, outcome: "skipped", reason });
  }
}

function markContended(trigger: Trigger, user: string): ThreadlineError {
  return new ThreadlineError(
    ErrorCode.UNAVAILABLE,
    `burst mark of ${user} in ${trigger.session} kept changing while trigger ${trigger.seq} was decided`,
  );
}
