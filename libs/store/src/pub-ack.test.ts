import { JetStreamApiError, JetStreamError } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { isTransientNatsError, JsErrCode, jsApiErrorCode } from "./nats-errors.ts";
import { parsePubAck } from "./pub-ack.ts";

const reply = (value: unknown) => new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("parsePubAck", () => {
  it("reads stream, seq, duplicate (false when absent) and domain", () => {
    expect(parsePubAck(reply({ stream: "TL", seq: 7 }))).toEqual({ stream: "TL", seq: 7, duplicate: false });
    expect(parsePubAck(reply({ stream: "TL", seq: 7, duplicate: true, domain: "hub" }))).toEqual({
      stream: "TL",
      seq: 7,
      duplicate: true,
      domain: "hub",
    });
  });

  it("an error reply throws JetStreamApiError with the API code, classified like js.publish()'s", () => {
    const wrongSeq = { error: { code: 400, err_code: 10071, description: "wrong last sequence: 3" } };
    const error = thrown(() => parsePubAck(reply(wrongSeq)));
    expect(error).toBeInstanceOf(JetStreamApiError);
    expect(jsApiErrorCode(error)).toBe(JsErrCode.WRONG_LAST_SEQUENCE);
    expect((error as Error).message).toBe("wrong last sequence: 3");
    expect(isTransientNatsError(error)).toBe(false);
    const unavailable = {
      error: { code: 503, err_code: 10008, description: "JetStream system temporarily unavailable" },
    };
    expect(isTransientNatsError(thrown(() => parsePubAck(reply(unavailable))))).toBe(true);
  });

  it("a reply that is not a pub ack throws JetStreamError", () => {
    for (const bad of ["not json", "null", "[]", { stream: "", seq: 1 }, { stream: "TL" }, { seq: 1 }]) {
      expect(() => parsePubAck(reply(bad))).toThrow(JetStreamError);
    }
  });
});
