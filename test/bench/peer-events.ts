// What the `peers` scenario writes into every system, so they all carry the
// same bytes: the resume fill's n-th event is `resumeEventData(n)` as JSON
// (≈ 60 bytes, the same `data` Threadline's fill publishes), a live event is
// `{"n":…,"t":…}` (≈ 35 bytes; `t` = the writer's wall clock when the event
// was due). Readers report an event by its position, n + 1 (the number of
// events applied once it is applied), as Threadline reports a seq.

/**
 * The `data` of the n-th event of a resume fill: what a streamed reply's
 * token looks like. resume.ts publishes it into Threadline.
 */
export function resumeEventData(n: number): { part: string; delta: string; n: number } {
  return { part: "text", delta: `token ${n} of a streamed reply `, n };
}

/** The n-th resume event as JSON, as the peers store it. */
export function resumeEventJson(n: number): string {
  return JSON.stringify(resumeEventData(n));
}

/** A live event's JSON (see above). */
export function liveEventJson(n: number, t: number): string {
  return JSON.stringify({ n, t });
}

/** One SSE event as the SSE peers write it: `id: <n>\ndata: <json>\n\n`. */
export function sseEvent(n: number, json: string): string {
  return `id: ${n}\ndata: ${json}\n\n`;
}

/** An event's fields as a reader sees them; `t` only on live events. */
export interface PeerEvent {
  n: number;
  t?: number;
}

/** Parses a JSON event written by the writers above (throws on anything else: the bench must notice). */
export function parsePeerEvent(json: string): PeerEvent {
  return toPeerEvent(JSON.parse(json));
}

/** An already parsed event value (see parsePeerEvent). */
export function toPeerEvent(value: unknown): PeerEvent {
  const event = value as { n?: unknown; t?: unknown } | null;
  if (typeof event?.n !== "number") throw new Error(`not a bench event: ${JSON.stringify(value)?.slice(0, 80)}`);
  return typeof event.t === "number" ? { n: event.n, t: event.t } : { n: event.n };
}

/**
 * Characters before the `index`-th resume event in an SSE peer's stream
 * (resumable-stream resumes by a character count): prefix sums of the
 * events' lengths, `result[i]` = characters of events 0..i-1.
 */
export function sseResumeOffsets(count: number): number[] {
  const offsets = [0];
  for (let n = 0; n < count; n++) offsets.push(offsets[n]! + sseEvent(n, resumeEventJson(n)).length);
  return offsets;
}
