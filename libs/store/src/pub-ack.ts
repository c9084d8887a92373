import { JetStreamApiError, JetStreamError } from "@nats-io/jetstream";

/** A JetStream publish acknowledgement: where the message was stored. */
export interface PubAck {
  stream: string;
  seq: number;
  /** The stream already held a message with this `Nats-Msg-Id` (within its duplicate window): nothing new was stored. */
  duplicate: boolean;
  domain?: string;
}

interface ApiErrorBody {
  code: number;
  err_code: number;
  description: string;
}

const decoder = new TextDecoder();

/**
 * Parses the body of a JetStream publish reply. Throws what `js.publish()` of
 * `@nats-io/jetstream` throws for the same reply, so the classification in
 * nats-errors.ts (`jsApiErrorCode`, `isTransientNatsError`) applies unchanged:
 * `JetStreamApiError` (its `code` is the API `err_code`, e.g. 10071 wrong last
 * sequence, 10060 expected stream mismatch; its `status` the HTTP-like code,
 * 503 = temporarily unavailable) for an error reply, `JetStreamError` for a
 * reply that is not a pub ack at all.
 */
export function parsePubAck(data: Uint8Array): PubAck {
  let body: { stream?: unknown; seq?: unknown; duplicate?: unknown; domain?: unknown; error?: ApiErrorBody };
  try {
    body = JSON.parse(decoder.decode(data));
  } catch (error) {
    throw new JetStreamError("invalid ack response", { cause: error });
  }
  if (typeof body !== "object" || body === null) throw new JetStreamError("invalid ack response");
  if (body.error) throw new JetStreamApiError(body.error);
  if (typeof body.stream !== "string" || body.stream === "" || typeof body.seq !== "number") {
    throw new JetStreamError("invalid ack response");
  }
  const ack: PubAck = { stream: body.stream, seq: body.seq, duplicate: body.duplicate === true };
  if (typeof body.domain === "string") ack.domain = body.domain;
  return ack;
}
