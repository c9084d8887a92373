import type { ConsumerConfig, ConsumerInfo, ConsumerMessages, JetStreamManager } from "@nats-io/jetstream";
import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { JsErrCode, jsApiErrorCode, natsError } from "./nats-errors.ts";

/**
 * Creates a durable pull consumer or brings its mutable settings (ack wait,
 * max ack pending, max deliver, filter) in line; where a new one starts
 * (`deliver_policy`) matters only at creation. Safe when several workers or
 * replicas start at once: a create that loses the race re-reads and updates.
 * A push consumer of that name is refused (`UNAVAILABLE`, not retryable).
 * Used by the agent SDK's worker pools and the notifier.
 */
export async function ensureDurable(
  jsm: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig>,
): Promise<void> {
  const name = config.durable_name as string;
  const what = `creating consumer ${name}`;
  for (let round = 0; round < 3; round++) {
    let existing: ConsumerInfo | undefined;
    try {
      existing = await jsm.consumers.info(stream, name);
    } catch (error) {
      if (jsApiErrorCode(error) !== JsErrCode.CONSUMER_NOT_FOUND) throw natsError(what, error);
    }
    if (!existing) {
      try {
        await jsm.consumers.add(stream, config);
        return;
      } catch (error) {
        if (round === 2) throw natsError(what, error);
        continue; // probably created concurrently with other settings: read it and update
      }
    }
    const have = existing.config;
    if (have.deliver_subject) {
      throw new ThreadlineError(ErrorCode.UNAVAILABLE, `consumer ${name} exists and is a push consumer`, {
        retryable: false,
      });
    }
    const changes: Partial<ConsumerConfig> = {};
    for (const key of ["ack_wait", "max_ack_pending", "max_deliver", "filter_subject"] as const) {
      if (have[key] !== config[key]) (changes as Record<string, unknown>)[key] = config[key];
    }
    if (Object.keys(changes).length === 0) return;
    try {
      await jsm.consumers.update(stream, name, changes);
      return;
    } catch (error) {
      throw natsError(`updating consumer ${name}`, error);
    }
  }
}

/**
 * Watches a `consume()` session: when its durable is deleted (or not found
 * any more) the session is closed at once — nats.js would only re-pull after
 * missed heartbeats, tens of seconds — and `lost` turns true, so the caller
 * creates the durable again and consumes anew. Acks to a lost consumer go
 * nowhere: skip the messages still buffered.
 */
export function watchConsumerLoss(messages: ConsumerMessages): { readonly lost: boolean } {
  const state = { lost: false };
  void (async () => {
    for await (const status of messages.status()) {
      if (status.type === "consumer_deleted" || status.type === "consumer_not_found") {
        state.lost = true;
        await messages.close();
        return;
      }
    }
  })().catch(() => {});
  return state;
}
