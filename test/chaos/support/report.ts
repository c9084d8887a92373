import type { Agent } from "@threadline/agent";
import { waitFor } from "@threadline/test-kit";
import { type Load, TICK_TYPE } from "./load.ts";
import type { Viewers } from "./viewers.ts";

/** What a scenario proved, printed as one line and asserted by the test. */
export interface ChaosSummary {
  scenario: string;
  /** Load events whose first publish attempt started. */
  published: number;
  /** Load events the stream acknowledged (every published one: the load retries until acked). */
  acked: number;
  /** Acknowledged events (by event id) missing from the stream afterwards. */
  lostAcked: number;
  /** Acknowledged events stored afterwards under another seq than their ack named (the stream's history was rewritten). */
  movedAcked: number;
  /** Load events applied by all viewers together. */
  delivered: number;
  /** Stored load events a viewer never applied (summed over viewers). */
  lost: number;
  /**
   * Events a viewer applied more than once or out of order (summed over viewers), plus load events
   * stored twice under one event id (a retried publish the stream did not deduplicate).
   */
  duplicated: number;
  /** Viewers whose applied load events are not exactly the stored ones of their session, in order. */
  mismatchedViewers: number;
  /** Named recovery times in ms. */
  recoveryMs: Record<string, number>;
  /** Further counts shown on the line (drops, retries…). */
  extra: Record<string, number>;
  /** One line per mismatched viewer (missing and unexpected seqs), for failure output. */
  details: string[];
}

/**
 * Ends a scenario: stops the monkey and the load, waits (up to `timeoutMs`)
 * for every viewer to apply every stored event of its session, and compares
 * each viewer's applied seqs with the stream's. Never throws on a mismatch:
 * the caller prints the summary, then asserts on it.
 */
export async function settle(
  scenario: string,
  agent: Agent,
  load: Load,
  viewers: Viewers,
  recoveryMs: Record<string, number>,
  timeoutMs = 30_000,
): Promise<ChaosSummary> {
  viewers.calm();
  await load.stop();
  const stored = new Map<string, number[]>();
  let lostAcked = 0;
  let movedAcked = 0;
  let storedTwice = 0;
  for (const session of load.sessions) {
    const seqs: number[] = [];
    const seqOf = new Map<string, number>();
    for await (const r of agent.history(session)) {
      if (r.event.type !== TICK_TYPE) continue;
      seqs.push(r.seq);
      if (seqOf.has(r.event.id)) storedTwice++;
      else seqOf.set(r.event.id, r.seq);
    }
    stored.set(session, seqs);
    for (const { id, seq } of load.ackedEvents(session)) {
      const now = seqOf.get(id);
      if (now === undefined) lostAcked++;
      else if (now !== seq) movedAcked++;
    }
  }
  const caughtUp = () =>
    viewers.list.every((v) => {
      const expected = stored.get(v.spec.session) ?? [];
      return v.received.at(-1) === expected.at(-1);
    });
  await waitFor(caughtUp, { timeoutMs, intervalMs: 50 }).catch(() => {});
  let delivered = 0;
  let lost = 0;
  let duplicated = storedTwice;
  let mismatchedViewers = 0;
  const details: string[] = [];
  for (const v of viewers.list) {
    const expected = stored.get(v.spec.session) ?? [];
    const got = new Set(v.received);
    const want = new Set(expected);
    const missing = expected.filter((seq) => !got.has(seq));
    delivered += v.received.length;
    lost += missing.length;
    duplicated += v.duplicates;
    if (v.received.length !== expected.length || v.received.some((seq, i) => seq !== expected[i])) {
      mismatchedViewers++;
      const around = (seq: number) => expected.slice(Math.max(0, expected.indexOf(seq) - 2), expected.indexOf(seq) + 3);
      details.push(
        `${v.name} (${v.spec.session}, ${v.spec.roaming ? "roaming" : "pinned"} ${v.spec.urls.join(" ")}): ` +
          `missing ${missing.slice(0, 10).join(",")} (stored around the first: ${missing[0] ? around(missing[0]).join(",") : "-"}), ` +
          `unexpected ${v.received
            .filter((seq) => !want.has(seq))
            .slice(0, 10)
            .join(",")}, ` +
          `sockets ${v.net.opened}, errors [${v.errors.join("; ")}]`,
      );
    }
  }
  return {
    scenario,
    published: load.published(),
    acked: load.acked(),
    lostAcked,
    movedAcked,
    delivered,
    lost,
    duplicated,
    mismatchedViewers,
    recoveryMs,
    extra: {
      viewers: viewers.list.length,
      drops: viewers.drops(),
      reloads: viewers.reloads(),
      publishRetries: load.retries(),
    },
    details,
  };
}

/** The one-line summary: `[chaos] <scenario>: published=… acked=… delivered=… lost=… duplicated=… | recovery … | …`. */
export function formatSummary(s: ChaosSummary): string {
  if (s.details.length > 0) console.error(`[chaos] ${s.scenario} mismatched viewers:\n  ${s.details.join("\n  ")}`);
  const pairs = (o: Record<string, number>) =>
    Object.entries(o)
      .map(([k, v]) => `${k}=${Math.round(v)}`)
      .join(" ");
  return (
    `[chaos] ${s.scenario}: published=${s.published} acked=${s.acked} delivered=${s.delivered} ` +
    `lost=${s.lost + s.lostAcked} duplicated=${s.duplicated}${s.movedAcked ? ` movedAcked=${s.movedAcked}` : ""} | recovery ${pairs(s.recoveryMs)} | ${pairs(s.extra)}`
  );
}
