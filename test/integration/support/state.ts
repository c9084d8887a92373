import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { encodeMsgpack, newId, type SessionState, type StateFrame, type StateOp, Subjects } from "@threadline/protocol";
import { createHistoryReader, foldStoredState } from "@threadline/store";
import type { RawSocket } from "./raw-socket.ts";

/** Shared-state helpers for gateway tests (PROTOCOL.md §19). */

const subjects = new Subjects();

/** Publishes a state op as an agent straight into the stream (what the agent SDK does on its st lane). */
export async function agentStateOp(nc: NatsConnection, session: string, op: StateOp, agent = "test-agent") {
  const id = newId();
  const event = { id, type: "state", from: { kind: "agent", id: agent }, ts: Date.now(), data: op };
  const ack = await jetstream(nc).publish(subjects.event(session, "st", "agent", agent), encodeMsgpack(event), {
    msgID: `${session}:${id}`,
  });
  return ack.seq;
}

/** The session's state folded from the stream (the reference every participant must agree with). */
export async function storedState(nc: NatsConnection, session: string, upToSeq?: number): Promise<SessionState> {
  const reader = createHistoryReader(jetstream(nc), await jetstreamManager(nc), { stream: "THREADLINE" });
  return foldStoredState(reader, subjects, session, upToSeq === undefined ? {} : { upToSeq });
}

/** Seqs of the session's stored state events. */
export async function storedStateSeqs(nc: NatsConnection, session: string): Promise<number[]> {
  const reader = createHistoryReader(jetstream(nc), await jetstreamManager(nc), { stream: "THREADLINE" });
  const seqs: number[] = [];
  for await (const batch of reader.read(`tl.${session}.st.>`, 0)) seqs.push(...batch.map((m) => m.seq));
  return seqs;
}

/** Publishes a state op through a socket; resolves with the reply (`published` or `error`). */
export function publishState(socket: RawSocket, session: string, op: StateOp, id?: string) {
  return socket.request({ op: "publish", session, event: { type: "state", data: op, ...(id ? { id } : {}) } });
}

/** Attaches with `state: true`; returns the attached frame, the state frame and the frames in between (must be none). */
export async function attachWithState(socket: RawSocket, session: string, from: unknown = "now") {
  const start = socket.frames.length;
  const attached = await socket.request({ op: "attach", session, from, state: true });
  if (attached.op !== "attached") throw new Error(`attach failed: ${JSON.stringify(attached)}`);
  const isState = (f: { op: string; session?: string }) => f.op === "state" && f.session === session;
  const state =
    (socket.frames.slice(start).find(isState) as StateFrame | undefined) ?? (await socket.waitNew<StateFrame>(isState));
  const after = socket.frames.slice(start);
  const iAttached = after.indexOf(attached);
  return { attached, state, next: after[iAttached + 1] };
}
