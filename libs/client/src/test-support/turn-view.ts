import type { Message, MessagePart } from "@threadline/protocol";
import type { TurnView } from "../ai-sdk/turn-tracker.ts";

/** Turn `t1` with one assistant message `m1` of agent `bot` made of `parts`; complete once `outcome` is given. */
export function turnView(parts: MessagePart[], outcome?: TurnView["outcome"]): TurnView {
  const message: Message = {
    id: "m1",
    role: "assistant",
    author: { kind: "agent", id: "bot" },
    parts,
    status: outcome ? "complete" : "streaming",
    turn: "t1",
    seq: 1,
    textBytes: 0,
  };
  return { id: "t1", messages: [message], outcome };
}
