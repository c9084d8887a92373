import { JetStreamApiError } from "@nats-io/jetstream";
import { JetStreamStatusError } from "@nats-io/jetstream/internal";
import { TimeoutError } from "@nats-io/transport-node";
import { ErrorCode } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { isTransientNatsError, natsError } from "./nats-errors.ts";

describe("isTransientNatsError / natsError", () => {
  it.each([
    ["a request timeout", new TimeoutError()],
    ["a pull ended by the server shutting down (409)", new JetStreamStatusError("Server Shutdown", 409)],
    ["a pull ended by a consumer leadership change (409)", new JetStreamStatusError("Leadership Change", 409)],
    // Regression (chaos, whole-stack kill): a history read right after a cluster restart failed INTERNAL.
    ["a pull answered no responders (503)", new JetStreamStatusError("no responders", 503)],
    [
      "JetStream temporarily unavailable (503)",
      new JetStreamApiError({ code: 503, err_code: 10008, description: "JetStream system temporarily unavailable" }),
    ],
    // A retried publish while the leader still holds the first attempt's Nats-Msg-Id (clustered, after a failover).
    [
      "a publish whose msg id is still in process (409, 10158)",
      new JetStreamApiError({ code: 409, err_code: 10158, description: "duplicate message id is in process" }),
    ],
  ])("%s is transient: UNAVAILABLE, retryable", (_name, error) => {
    expect(isTransientNatsError(error)).toBe(true);
    expect(natsError("pulling input", error)).toMatchObject({ code: ErrorCode.UNAVAILABLE, retryable: true });
  });

  it.each([
    ["a deleted consumer (409)", new JetStreamStatusError("Consumer Deleted", 409)],
    ["a bad request", new JetStreamApiError({ code: 400, err_code: 10003, description: "bad request" })],
    ["any other error", new Error("boom")],
  ])("%s is not transient: INTERNAL, not retryable", (_name, error) => {
    expect(isTransientNatsError(error)).toBe(false);
    expect(natsError("pulling input", error)).toMatchObject({ code: ErrorCode.INTERNAL, retryable: false });
  });
});
