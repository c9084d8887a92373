import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Agent } from "@threadline/agent";
import {
  type ControlCallEntry,
  type ControlOwnerEntry,
  type ControlTurnEntry,
  controlCallKey,
  controlOwnerKey,
  controlTurnKey,
  DEFAULT_CONTROL_BUCKET,
  type SessionEvent,
} from "@threadline/protocol";

/**
 * Direct access to the control bucket for gateway tests: plays the agent
 * SDK's part (turn and call entries) and reads what the gateway wrote.
 */
export class ControlKv {
  private constructor(readonly kv: KV) {}

  static async open(nc: NatsConnection, bucket = DEFAULT_CONTROL_BUCKET): Promise<ControlKv> {
    return new ControlKv(await new Kvm(nc).open(bucket));
  }

  async turn(session: string, turn: string): Promise<ControlTurnEntry | undefined> {
    return this.read(controlTurnKey(session, turn));
  }

  async call(session: string, call: string): Promise<ControlCallEntry | undefined> {
    return this.read(controlCallKey(session, call));
  }

  async owner(session: string): Promise<ControlOwnerEntry | undefined> {
    return this.read(controlOwnerKey(session));
  }

  async putTurn(session: string, turn: string, entry: Partial<ControlTurnEntry>): Promise<void> {
    await this.kv.put(
      controlTurnKey(session, turn),
      JSON.stringify({ status: "running", updatedAt: Date.now(), ...entry }),
    );
  }

  /** Writes a pending call entry the way the agent SDK does before publishing tool.call / approval.request. */
  async putCall(session: string, call: string, entry: Partial<ControlCallEntry> & { turn: string }): Promise<void> {
    await this.kv.put(
      controlCallKey(session, call),
      JSON.stringify({ kind: "tool", status: "pending", deadline: Date.now() + 60_000, ...entry }),
    );
  }

  private async read<T>(key: string): Promise<T | undefined> {
    const entry = await this.kv.get(key);
    return entry?.operation === "PUT" ? entry.json<T>() : undefined;
  }
}

/** Every stored event of `session`, in stream order. */
export async function storedEvents(agent: Agent, session: string): Promise<SessionEvent[]> {
  const events: SessionEvent[] = [];
  for await (const record of agent.history(session)) events.push(record.event);
  return events;
}
