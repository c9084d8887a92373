import { Kvm } from "@nats-io/kv";
import { serveAgent } from "@threadline/agent";
import {
  type ControlTurnEntry,
  controlTurnKey,
  DEFAULT_CONTROL_BUCKET,
  DEFAULT_PRESENCE_BUCKET,
  turnLiveness,
} from "@threadline/protocol";
import { PresenceBucket } from "@threadline/store";
import { waitFor } from "@threadline/test-kit";
import { expect, it, onTestFinished } from "vitest";
import { connectionOf } from "../../libs/agent/src/agent.ts";
import { runCliProcess } from "../../libs/cli/src/test-support/cli-process.ts";
import { startCliTarget } from "./support/cli-target.ts";

// `threadline inspect` against the real worker pool (agent SDK serveAgent): a running turn as
// the pool records it (events + control bucket + worker presence), then the same turn after its
// worker stopped without ending it — reported as turn-orphaned once the lease it renewed ran out.
const { agent, env } = await startCliTarget("shop");

it("shows a pool's running turn, and reports it orphaned once its worker is gone", async () => {
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const server = await serveAgent({
    agent,
    name: "triage",
    entry: true,
    worker: "w-1",
    orphanAfterMs: 3000,
    onError: () => {},
    handler: async (ctx) => {
      started();
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
    },
  });
  onTestFinished(() => server.stop({ graceMs: 0 }));

  const published = await runCliProcess(
    ["publish", "pool-s1", "input", "--text", "hello", "--as", "user:alice", "--id", "turn-1", "--json"],
    env,
  );
  expect(published.code).toBe(0);
  await running;
  const control = await new Kvm(connectionOf(agent).js).open(DEFAULT_CONTROL_BUCKET);
  await waitFor(
    async () => (await control.get(controlTurnKey("pool-s1", "turn-1")))?.json<ControlTurnEntry>().status === "running",
  );

  const live = await runCliProcess(["inspect", "pool-s1", "--orphan-after", "0s", "--json"], env);
  expect(live.code).toBe(0);
  const report = JSON.parse(live.stdout.join("\n"));
  expect(report.turns).toEqual([
    expect.objectContaining({
      id: "turn-1",
      status: "running",
      controlStatus: "running",
      agent: "triage",
      worker: "w-1",
    }),
  ]);
  expect(report.present).toEqual([expect.objectContaining({ kind: "agent", id: "shop" })]);
  expect(report.anomalies).toEqual([]);

  // Stop the worker without ending the turn (it is handed over): nobody runs it now. The waits read
  // NATS directly (a CLI process per poll costs 1–5 s of node + tsx start-up on a loaded CI machine);
  // the CLI then runs once per assertion.
  await server.stop({ graceMs: 0 });
  const { nc, js } = connectionOf(agent);
  const presence = new PresenceBucket(await new Kvm(js).open(DEFAULT_PRESENCE_BUCKET), nc);
  await waitFor(async () => (await presence.members("pool-s1")).length === 0, {
    message: () => "the stopped worker is still present in pool-s1",
  });
  const gone = await runCliProcess(["inspect", "pool-s1", "--orphan-after", "0s", "--json"], env);
  expect(gone.code).toBe(0);
  expect(JSON.parse(gone.stdout.join("\n")).present).toEqual([]);
  // Its control entry's lease (renewed every orphanAfterMs / 3 while it ran) runs out: orphaned, presence aside.
  await waitFor(
    async () => {
      const entry = (await control.get(controlTurnKey("pool-s1", "turn-1")))?.json<ControlTurnEntry>();
      return entry !== undefined && turnLiveness(entry, Date.now()) === "orphaned";
    },
    { timeoutMs: 20_000, message: () => "turn-1's lease never ran out" },
  );
  const after = await runCliProcess(["inspect", "pool-s1"], env);
  expect(after.code).toBe(0);
  expect(after.stdout.join("\n")).toMatch(
    /! turn-orphaned: turn turn-1 is running but its worker w-1 stopped renewing its lease .* ago/,
  );
}, 60_000);
