import { waitFor } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import { deviceClient, sessionLog, startWorkerProcess } from "./support/control-agent.ts";
import { startStack } from "./support/stack.ts";

test("a worker stalled (SIGSTOP) past its lease loses the turn to another worker; resumed, it stops without publishing into it", async () => {
  const stack = await startStack();
  onTestFinished(() => stack[Symbol.asyncDispose]());
  // Distinct participant ids, so the test can tell whose events are whose.
  const workers = await Promise.all(
    ["stall-a", "stall-b"].map((worker) =>
      startWorkerProcess(stack.nats.url, { worker, agentId: worker, leaseMs: 600 }),
    ),
  );
  for (const w of workers) {
    onTestFinished(() => w.kill("SIGKILL"));
  }
  const tab = await deviceClient(stack, "alice", "tab").attach("stall1", { from: "start" });
  const log = sessionLog(tab);

  const { id: turn } = await tab.publish({ type: "input", data: { text: "stream 150" } });
  const start = await log.next((r) => r.event.type === "turn.start" && r.event.turn === turn);
  const stalled = workers.find((w) => w.worker === start.event.from.id)!;
  const other = workers.find((w) => w !== stalled)!;
  await waitFor(() => log.ofTurn(turn).filter((r) => r.event.type === "message.append").length >= 5);

  process.kill(stalled.pid, "SIGSTOP"); // (SIGKILL in the teardown ends a stopped process too)
  const resumed = await log.next((r) => r.event.type === "turn.resumed" && r.event.turn === turn);
  expect(resumed.event.from.id).toBe(other.worker);
  expect(resumed.event.data).toMatchObject({ previousWorker: stalled.worker, worker: other.worker });
  process.kill(stalled.pid, "SIGCONT");

  const end = await log.next((r) => r.event.type === "turn.end" && r.event.turn === turn, 15_000);
  expect(end.event.data).toEqual({ status: "completed" });
  expect(end.event.from.id).toBe(other.worker);
  // SIGTERM: the woken worker stops (it must not hold the turn), then exits; all it published is stored by then.
  await stalled.kill("SIGTERM");
  const late = log.records.filter((r) => r.seq > resumed.seq && r.event.from.id === stalled.worker);
  // At most a publish that had passed its lease check the instant the process was stopped.
  expect(late.length).toBeLessThanOrEqual(1);
  expect(late.filter((r) => r.event.type.startsWith("turn."))).toEqual([]);
  expect(log.ofTurn(turn).filter((r) => r.event.type === "turn.end")).toHaveLength(1);
});
