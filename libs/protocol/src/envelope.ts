import { Lane, type ParticipantKind } from "./subjects.ts";

/** Who wrote an event. For client events the gateway stamps it from the verified token. */
export interface Participant {
  kind: ParticipantKind;
  id: string;
  /** The device (browser tab / app install) for users and operators. */
  device?: string;
}

/**
 * Every event stored in a session. `id` is unique per event in its session; it
 * is stored with the JetStream `Nats-Msg-Id` `<session>/<id>` (`dedupeKey`,
 * PROTOCOL.md §3.3), so a publisher's retry with the same id within the
 * stream's duplicate window is stored once, and the same id in another session
 * is another event.
 */
export interface SessionEvent<TData = unknown> {
  id: string;
  type: string;
  from: Participant;
  /** Publisher wall clock, milliseconds since the Unix epoch. Informational; order is by seq. */
  ts: number;
  /** The turn this event belongs to, if any. */
  turn?: string;
  /** The event (or message/tool call id) this event refers to, if any. */
  ref?: string;
  data?: TData;
  /**
   * W3C `traceparent` of the operation that produced the event (PROTOCOL.md §4.2),
   * e.g. `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`. Set by agents
   * (`publish(…, { traceparent })`), passed through unchanged by the gateway.
   * Receivers ignore a value that is not a valid traceparent (`isTraceparent`).
   */
  trace?: string;
}

/** An event together with its position in the stream. */
export interface SessionRecord<TData = unknown> {
  session: string;
  seq: number;
  event: SessionEvent<TData>;
}

/**
 * Event types a client (user or operator, through the gateway) may publish,
 * and the lane each is stored in. Anything else is refused with
 * `EVENT_TYPE_NOT_ALLOWED`; agent output types (`message.*`, `turn.*`,
 * `presence.*`, …) can never be written through the gateway.
 */
export const CLIENT_EVENT_LANES: Readonly<Record<string, Lane>> = Object.freeze({
  /** User/operator input that may start a turn: `data: { text?: string, parts?: unknown[], … }`. */
  input: Lane.IN,
  /** Stop a running turn: `turn` names it. */
  cancel: Lane.CTL,
  /** Redirect a running turn: `turn`, `data: { text }`. */
  steer: Lane.CTL,
  /** Answer a client tool call: `ref` = call id, `data: { result } | { error }`. */
  "tool.result": Lane.CTL,
  /** Answer an approval request: `ref` = call id, `data: { approved, reason? }`. */
  approval: Lane.CTL,
  /** Ask for / hand over ownership of the session. */
  handoff: Lane.CTL,
  /** Change a shared state object (PROTOCOL.md §19): `data` is a state operation. */
  state: Lane.ST,
});

/** The lane a client event type is stored in, or undefined when clients may not publish it. */
export function clientEventLane(type: string): Lane | undefined {
  return Object.hasOwn(CLIENT_EVENT_LANES, type) ? CLIENT_EVENT_LANES[type] : undefined;
}
