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

/** What one pull got: its messages in seq order, and the status that ended it short, if one did. */
export interface PullResult {
  messages: PulledMessage[];
  /**
   * Undefined when the pull got every message it asked for. Else the status
   * the server ended it with — 404 (nothing available), 408 (expired, or
   * `no_wait` with fewer available than asked), 409 (consumer deleted, …),
   * 503 (no responders: the consumer is gone) — or 0 when the server never
   * answered within the pull's expiry and grace.
   */
  endedBy: number | undefined;
}

/**
 * Pulls from one pull consumer over one inbox subscription for its whole
 * life: each `pull` is a single `CONSUMER.MSG.NEXT` request, where nats.js's
 * `fetch` subscribes and unsubscribes a fresh inbox per pull and builds a
 * `JsMsg` (with its delivery info object) per message. At most one pull is in
 * flight at a time, so every message belongs to it and pulls complete in
 * seq order.
 *
 * Pulls are `no_wait` with an `expires`: the server sends what is available
 * now, up to the batch, and ends the pull at once when that is fewer — so
 * asking for more than is stored costs nothing and the consumer's
 * `num_pending` need not be exact (nats-server 2.9 miscounts it for wildcard
 * filters, both ways; later versions had such bugs too). A pull that finds
 * nothing available at all waits up to `expires` for a first message (what
 * nats-server 2.9 and 2.10 do with `no_wait` and `expires` together).
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
        resolve: (result: PullResult) => void;
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
   * Asks for up to `count` messages and resolves with those delivered, in seq
   * order, and the status that ended the pull when it got fewer (see
   * `PullResult`).
   */
  pull(count: number, expiresMs: number): Promise<PullResult> {
    if (this.current) return Promise.reject(new Error("ConsumerPulls: one pull at a time"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.finish(0), expiresMs + PULL_GRACE_MS);
      this.current = { want: count, got: [], resolve, reject, timer };
      try {
        const request = { batch: count, expires: nanos(expiresMs), no_wait: true };
        this.nc.publish(this.next, JSON.stringify(request), { reply: this.inbox });
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
    // 100 is a heartbeat (not asked for, ignored); any other ends the pull (404 nothing available, 408
    // expired, 409 consumer deleted, 503 no responders…) with what it delivered.
    if (!msg.reply) {
      const code = msg.headers?.code ?? 0;
      if (code !== 100) this.finish(code);
      return;
    }
    const info = deliveryInfo(msg.reply);
    if (!info) {
      this.fail(new ThreadlineError(ErrorCode.UNAVAILABLE, `${this.what}: not a JetStream delivery`));
      return;
    }
    pull.got.push({ seq: info.seq, subject: msg.subject, data: msg.data, storedAt: info.storedAt });
    if (pull.got.length >= pull.want) this.finish(undefined);
  }

  private finish(endedBy: number | undefined): void {
    const pull = this.current;
    if (!pull) return;
    this.current = undefined;
    clearTimeout(pull.timer);
    pull.resolve({ messages: pull.got, endedBy });
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
