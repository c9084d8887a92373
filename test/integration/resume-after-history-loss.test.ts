import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, memoryStorage, type SessionHandle } from "@threadline/client";
import { ErrorCode, type ThreadlineError } from "@threadline/protocol";
import { startNatsServer, waitFor } from "@threadline/test-kit";
import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import { HISTORY_LOSS_GRACE_MS } from "../../services/gateway/src/start-resolution.ts";
import { type Stack, startStack } from "./support/stack.ts";

// A stream that comes back without events it had delivered (a JetStream
// cluster restarted without its newest writes; nats-server 2.9 did this in
// the chaos suite), while agents go on storing new events under the same
// seqs. Made real here: the server's store is copied while it is stopped and
// put back after more events were delivered. Nobody may continue silently:
// the live attachment ends with INSUFFICIENT_STATE, a stored position naming
// an event the stream no longer holds at its seq is refused, so is a position
// beyond the stream's end, and a reload from the start shows the stream as
// it is now (PROTOCOL.md §8.1, §8.4).

const SESSION = "history-loss";
let stack: Stack;
let storeDir: string;
let snapshot: string;

beforeAll(async () => {
  storeDir = mkdtempSync(join(tmpdir(), "threadline-loss-store-"));
  snapshot = mkdtempSync(join(tmpdir(), "threadline-loss-snapshot-"));
  const nats = await startNatsServer({ storeDir });
  stack = await startStack({ nats });
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
  await stack?.nats.stop();
  rmSync(storeDir, { recursive: true, force: true });
  rmSync(snapshot, { recursive: true, force: true });
});

function client(storage = memoryStorage()) {
  return createClient({
    url: stack.gateway.url,
    token: () => stack.token({ sub: "watcher" }),
    WebSocket: WebSocket as never,
    storage,
    reconnect: { initialDelayMs: 10, maxDelayMs: 200 },
  });
}

async function publish(ids: string[]): Promise<number[]> {
  const seqs: number[] = [];
  for (const id of ids) {
    for (;;) {
      try {
        seqs.push((await stack.agent.publish(SESSION, { id, type: "note", data: { id } })).seq);
        break;
      } catch {
        // The server is restarting: retry the same id until it is stored.
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
  return seqs;
}

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

async function stored(): Promise<{ seq: number; id: string }[]> {
  const out: { seq: number; id: string }[] = [];
  for await (const r of stack.agent.history(SESSION)) out.push({ seq: r.seq, id: r.event.id });
  return out;
}

it("a stream that lost delivered events: live attachments end, stale positions are refused, a reload shows the stream", async () => {
  const live = client();
  const laterStorage = memoryStorage();
  const later = client(laterStorage);
  try {
    await publish(names("kept", 10));
    const seen: { seq: number; id: string }[] = [];
    const errors: ThreadlineError[] = [];
    const handle: SessionHandle = await live.attach(SESSION, { from: "start" });
    handle.onEvent((r) => seen.push({ seq: r.seq, id: r.event.id }));
    handle.onError((e) => errors.push(e));
    await waitFor(() => seen.length === 10);

    // Snapshot the store (stopped: everything flushed), then go on.
    await stack.nats.kill("SIGTERM");
    cpSync(storeDir, snapshot, { recursive: true });
    await stack.nats.restart();
    const lostSeqs = await publish(names("lost", 5));
    await waitFor(() => seen.length === 15, { message: () => `live client saw ${seen.length} of 15` });

    // A second device reads everything, then goes away holding the position of the last event.
    const laterHandle = await later.attach(SESSION, { from: "start" });
    await waitFor(() => laterHandle.position?.seq === lostSeqs.at(-1));
    expect(laterHandle.position).toMatchObject({ seq: lostSeqs.at(-1), id: "lost-4" });
    await later.close();

    // The stream comes back without the last 5 events; agents store new ones under the same seqs.
    await stack.nats.kill("SIGTERM");
    rmSync(storeDir, { recursive: true, force: true });
    cpSync(snapshot, storeDir, { recursive: true });
    await stack.nats.restart();
    const newSeqs = await publish(names("new", 8));
    expect(newSeqs.slice(0, 5)).toEqual(lostSeqs);

    // 1. The live attachment is ended: its client must not go on as if nothing happened.
    await waitFor(() => errors.some((e) => e.code === ErrorCode.INSUFFICIENT_STATE), {
      timeoutMs: HISTORY_LOSS_GRACE_MS + 10_000,
      message: () => `errors: ${errors.map((e) => e.code).join(",")}`,
    });
    expect(errors.find((e) => e.code === ErrorCode.INSUFFICIENT_STATE)!.message).toMatch(
      /lost events it had delivered/,
    );
    // Nothing of the rewritten seqs was delivered as if it continued the old history.
    expect(seen.filter((r) => r.id.startsWith("new-") && r.seq <= lostSeqs.at(-1)!)).toEqual([]);

    // 2. A reload from the start shows exactly what the stream holds now.
    const truth = await stored();
    expect(truth.map((r) => r.id)).toEqual([...names("kept", 10), ...names("new", 8)]);
    const reloaded: { seq: number; id: string }[] = [];
    const again = await live.attach(SESSION, { from: "start" });
    again.onEvent((r) => reloaded.push({ seq: r.seq, id: r.event.id }));
    await waitFor(() => reloaded.length === truth.length);
    expect(reloaded).toEqual(truth);

    // 3. The other device's stored position names lost-4 at a seq that now holds new-4: refused.
    const returning = client(laterStorage);
    try {
      const refused = await returning.attach(SESSION).catch((e: ThreadlineError) => e);
      expect(refused).toMatchObject({ code: ErrorCode.INSUFFICIENT_STATE });
      expect((refused as ThreadlineError).message).toMatch(/holds event new-4 at seq \d+, not lost-4/);
      // The refused position is forgotten: the next plain attach replays the stream from the start.
      const fresh: string[] = [];
      const reattached = await returning.attach(SESSION);
      reattached.onEvent((r) => fresh.push(r.event.id));
      await waitFor(() => fresh.length === truth.length);
      expect(fresh).toEqual(truth.map((r) => r.id));
    } finally {
      await returning.close();
    }

    // 4. A position beyond the stream's end is refused too, after the grace a lagging leader gets.
    const epoch = again.position!.epoch;
    const ahead = client();
    try {
      const startedAt = Date.now();
      const beyond = await ahead
        .attach(SESSION, { from: { epoch, seq: truth.at(-1)!.seq + 50 } })
        .catch((e: ThreadlineError) => e);
      expect(beyond).toMatchObject({ code: ErrorCode.INSUFFICIENT_STATE });
      expect((beyond as ThreadlineError).message).toMatch(/after the stream's last seq/);
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(HISTORY_LOSS_GRACE_MS - 100);
    } finally {
      await ahead.close();
    }

    const metric = (name: string) => stack.gateway.metrics.registry.getSingleMetricAsString(name);
    expect(await metric("threadline_gateway_feed_failures_total")).toMatch(/reason="history-lost"} [1-9]/);
    expect(await metric("threadline_gateway_live_resyncs_total")).toMatch(/reason="history-lost"} 1$/m);
  } finally {
    await live.close();
    await later.close();
  }
}, 90_000);
