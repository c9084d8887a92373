import { createClient, type ThreadlineClient } from "@threadline/client";
import { ErrorCode } from "@threadline/protocol";
import { waitFor } from "@threadline/test-kit";
import { type ControlledWebSocket, controlledWebSocket } from "../../integration/support/controlled-websocket.ts";
import { mintToken } from "../../integration/support/tokens.ts";
import { TICK_TYPE, type TickData } from "./load.ts";

export interface ViewerSpec {
  session: string;
  /** Gateway URLs in the order the client tries them. */
  urls: string[];
  /** Roaming viewers have their socket dropped at random by the monkey (and move between gateways). */
  roaming: boolean;
}

/** A client attached to one session from the start, recording what it applies. */
export interface Viewer {
  readonly name: string;
  readonly spec: ViewerSpec;
  readonly client: ThreadlineClient;
  readonly net: ControlledWebSocket;
  /** Applied seqs of the load's events (`chaos.tick`) in order; other events (presence) only count for `duplicates`. */
  readonly received: number[];
  /** The last applied seq of any event. */
  lastSeq: number;
  /** Applied events whose seq was not above the previous one (the SDK promises none). */
  duplicates: number;
  /** The newest `t` of the load events applied. */
  newestSentAt: number;
  /** Session errors reported to the handle (`CODE(retryable)`), the last 20, for failure output. */
  readonly errors: string[];
  /**
   * Times the viewer discarded what it had applied and attached from the
   * start after INSUFFICIENT_STATE (PROTOCOL.md §14 step 6), e.g. because the
   * stream lost events it had delivered (§8.4).
   */
  reloads: number;
}

/** Clients under chaos: attached viewers plus a monkey that drops roaming viewers' sockets at random. */
export interface Viewers {
  readonly list: Viewer[];
  /** Drops since the start. */
  drops(): number;
  /** Reloads from the start, all viewers together. */
  reloads(): number;
  /**
   * Waits until every viewer applied a load event first sent at or after
   * `since`; resolves to the time from `since` — how long live delivery
   * was interrupted for the slowest viewer.
   */
  recovered(since: number, timeoutMs?: number): Promise<number>;
  /** Waits until every viewer applied at least `count` load events (the system is under load, the monkey at work). */
  warmedUp(count: number, timeoutMs?: number): Promise<void>;
  /** Stops the monkey (viewers stay attached). */
  calm(): void;
  close(): Promise<void>;
}

/**
 * Attaches the viewer from the start and records what it applies. On
 * INSUFFICIENT_STATE (the handle has ended) it does what an app must: drop
 * its state and attach from the start again (retrying while that fails).
 */
async function attachFromStart(viewer: Viewer): Promise<void> {
  const handle = await viewer.client.attach(viewer.spec.session, { from: "start" });
  handle.onError((error) => {
    viewer.errors.push(`${error.code}(${error.retryable ? "retryable" : "final"}): ${error.message}`);
    if (viewer.errors.length > 20) viewer.errors.shift();
    if (error.code !== ErrorCode.INSUFFICIENT_STATE || viewer.client.status.type === "closed") return;
    viewer.reloads++;
    viewer.received.length = 0;
    viewer.lastSeq = 0;
    void (async () => {
      for (;;) {
        try {
          return await attachFromStart(viewer);
        } catch (e) {
          if (viewer.client.status.type === "closed") return;
          viewer.errors.push(`reload failed: ${(e as Error).message}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    })();
  });
  handle.onEvent((record) => {
    if (record.seq <= viewer.lastSeq) viewer.duplicates++;
    viewer.lastSeq = record.seq;
    if (record.event.type !== TICK_TYPE) return;
    viewer.received.push(record.seq);
    const { t } = record.event.data as TickData;
    if (t > viewer.newestSentAt) viewer.newestSentAt = t;
  });
}

export async function startViewers(
  specs: ViewerSpec[],
  options: { dropEveryMs?: number; seed?: number } = {},
): Promise<Viewers> {
  const list: Viewer[] = [];
  let drops = 0;
  let monkey: ReturnType<typeof setInterval> | undefined;
  const close = async () => {
    if (monkey) clearInterval(monkey);
    await Promise.all(list.map((v) => v.client.close()));
  };
  try {
    for (const [i, spec] of specs.entries()) {
      const net = controlledWebSocket();
      const name = `viewer${i}`;
      const client = createClient({
        url: spec.urls,
        token: () => mintToken({ sub: name }),
        WebSocket: net.WebSocket as never,
        reconnect: { initialDelayMs: 20, maxDelayMs: 500 },
        pingIntervalMs: 2_000,
        requestTimeoutMs: 5_000,
      });
      const viewer: Viewer = {
        name,
        spec,
        client,
        net,
        received: [],
        lastSeq: 0,
        duplicates: 0,
        newestSentAt: 0,
        errors: [],
        reloads: 0,
      };
      list.push(viewer);
      await attachFromStart(viewer);
    }
  } catch (error) {
    await close();
    throw error;
  }
  // A small deterministic PRNG (mulberry32), so a failing run's drop pattern can be replayed with its seed.
  let state = options.seed ?? 0x7e57;
  const random = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const roaming = list.filter((v) => v.spec.roaming);
  if (roaming.length > 0) {
    monkey = setInterval(() => {
      const victim = roaming[Math.floor(random() * roaming.length)] as Viewer;
      victim.net.drop();
      drops++;
    }, options.dropEveryMs ?? 400);
  }
  return {
    list,
    drops: () => drops,
    reloads: () => list.reduce((sum, v) => sum + v.reloads, 0),
    async recovered(since, timeoutMs = 60_000) {
      await waitFor(() => list.every((v) => v.newestSentAt >= since), {
        timeoutMs,
        intervalMs: 20,
        message: () =>
          `viewers without an event sent after the fault: ${list
            .filter((v) => v.newestSentAt < since)
            .map((v) => `${v.name} [${v.errors.join("; ")}] status=${v.client.status.type}`)
            .join(", ")}`,
      });
      return Date.now() - since;
    },
    async warmedUp(count, timeoutMs = 30_000) {
      await waitFor(() => list.every((v) => v.received.length >= count), {
        timeoutMs,
        message: () => `applied: ${list.map((v) => v.received.length).join(",")}`,
      });
    },
    calm() {
      if (monkey) clearInterval(monkey);
      monkey = undefined;
    },
    close,
  };
}
