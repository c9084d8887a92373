import type { JetStreamClient } from "@nats-io/jetstream";
import { createInbox, type Msg, type NatsConnection, nanos, type Subscription } from "@nats-io/transport-node";
import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { natsError } from "./nats-errors.ts";

/** A stored message as a pull delivers it: stream seq, store time, subject and payload. */
export interface PulledMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  /** Store time in ms since the epoch (server clock). */
  storedAt: number;
}

/** Extra time past a pull's `expires` before the pull gives up waiting for the server's answer. */
const PULL_GRACE_MS = 1_000;

/**
 * Pulls from one pull consumer over one inbox subscription for its whole
 * life: each `pull` is a single `CONSUMER.MSG.NEXT` request, where nats.js's
 * `fetch` subscribes and unsubscribes a fresh inbox per pull and builds a
 * `JsMsg` (with its delivery info object) per message. At most one pull is in
 * flight at a time, so every message belongs to it and pulls complete in
 * seq order.
 */
export class ConsumerPulls {
  private readonly nc: NatsConnection;
  private readonly inbox: string;
  private readonly next: string;
  private readonly sub: Subscription;
  private current:
    | {
        want: number;
        got: PulledMessage[];
        resolve: (got: PulledMessage[]) => void;
        reject: (error: unknown) => void;
        timer: ReturnType<typeof setTimeout>;
      }
    | undefined;

  constructor(
    js: JetStreamClient,
    stream: string,
    consumer: string,
    private readonly what: string,
  ) {
    // nats.js's JetStream client holds its connection (`nc`, with its `options`) without typing them; the
    // pulls need both: the connection, and its inbox prefix (which NATS permissions may pin), as `fetch` does.
    const client = js as unknown as { nc: NatsConnection & { options?: { inboxPrefix?: string } } };
    this.nc = client.nc;
    const prefix = js.getOptions().apiPrefix ?? "$JS.API";
    this.next = `${prefix}.CONSUMER.MSG.NEXT.${stream}.${consumer}`;
    this.inbox = createInbox(client.nc.options?.inboxPrefix);
    this.sub = this.nc.subscribe(this.inbox, { callback: (error, msg) => this.onMessage(error, msg) });
  }

  /**
   * Asks for `count` messages (at most the consumer's pending ones) and
   * resolves with those delivered, in seq order — fewer only when the server
   * ended the pull (its `expires`, or a status) first.
   */
  pull(count: number, expiresMs: number): Promise<PulledMessage[]> {
    if (this.current) return Promise.reject(new Error("ConsumerPulls: one pull at a time"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.finish(), expiresMs + PULL_GRACE_MS);
      this.current = { want: count, got: [], resolve, reject, timer };
      try {
        this.nc.publish(this.next, JSON.stringify({ batch: count, expires: nanos(expiresMs) }), { reply: this.inbox });
      } catch (error) {
        this.fail(natsError(this.what, error));
      }
    });
  }

  close(): void {
    this.fail(new ThreadlineError(ErrorCode.UNAVAILABLE, `${this.what}: read closed`));
    this.sub.unsubscribe();
  }

  private onMessage(error: Error | null, msg: Msg): void {
    const pull = this.current;
    if (!pull) return;
    if (error) {
      this.fail(natsError(this.what, error));
      return;
    }
    // A status instead of a message (deliveries always have a reply subject; their headers are not parsed):
    // 100 is a heartbeat (not asked for, ignored); any other ends the pull (408 expired, 409 consumer
    // deleted, 503 no responders…) with what it delivered.
    if (!msg.reply) {
      if (msg.headers?.code !== 100) this.finish();
      return;
    }
    const info = deliveryInfo(msg.reply);
    if (!info) {
      this.fail(new ThreadlineError(ErrorCode.UNAVAILABLE, `${this.what}: not a JetStream delivery`));
      return;
    }
    pull.got.push({ seq: info.seq, subject: msg.subject, data: msg.data, storedAt: info.storedAt });
    if (pull.got.length >= pull.want) this.finish();
  }

  private finish(): void {
    const pull = this.current;
    if (!pull) return;
    this.current = undefined;
    clearTimeout(pull.timer);
    pull.resolve(pull.got);
  }

  private fail(error: unknown): void {
    const pull = this.current;
    if (!pull) return;
    this.current = undefined;
    clearTimeout(pull.timer);
    pull.reject(error);
  }
}

/**
 * Stream seq and store time (ms) from a JetStream delivery's reply subject:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`, or
 * with `<domain>.<account hash>` after `ACK` (and a trailing token) on newer
 * servers — the layouts nats.js's `parseInfo` reads.
 */
export function deliveryInfo(reply: string | undefined): { seq: number; storedAt: number } | undefined {
  if (!reply?.startsWith("$JS.ACK.")) return undefined;
  const tokens = reply.split(".");
  const base = tokens.length === 9 ? 2 : tokens.length >= 11 ? 4 : -1;
  if (base < 0) return undefined;
  const seq = Number(tokens[base + 3]);
  const ts = Number(tokens[base + 5]);
  if (!Number.isSafeInteger(seq) || !Number.isFinite(ts)) return undefined;
  return { seq, storedAt: Math.floor(ts / 1e6) };
}
