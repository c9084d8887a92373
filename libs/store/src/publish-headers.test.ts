import { MsgHdrsImpl } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { publishHeaders } from "./publish-headers.ts";

const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

describe("publishHeaders", () => {
  it("encodes the same bytes as nats.js's MsgHdrsImpl for the same headers", () => {
    const ours = publishHeaders({ msgId: "s1/e1", expectStream: "THREADLINE", expectLastSubjectSequence: 0 });
    const theirs = new MsgHdrsImpl();
    theirs.set("Nats-Msg-Id", "s1/e1");
    theirs.set("Nats-Expected-Stream", "THREADLINE");
    theirs.set("Nats-Expected-Last-Subject-Sequence", "0");
    expect(text(ours?.encode())).toBe(text(theirs.encode()));
  });

  it("only the headers given; none at all is no header block", () => {
    expect(text(publishHeaders({ msgId: "a" })?.encode())).toBe("NATS/1.0\r\nNats-Msg-Id: a\r\n\r\n");
    expect(publishHeaders({})).toBeUndefined();
  });

  it("refuses values that would break the header block, and a bad expected seq", () => {
    expect(() => publishHeaders({ msgId: "a\r\nNats-Expected-Stream: X" })).toThrow(TypeError);
    expect(() => publishHeaders({ expectStream: "" })).toThrow(TypeError);
    expect(() => publishHeaders({ expectLastSubjectSequence: -1 })).toThrow(TypeError);
    expect(() => publishHeaders({ expectLastSubjectSequence: 1.5 })).toThrow(TypeError);
  });
});
