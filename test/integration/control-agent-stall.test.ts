import { waitFor } from "@threadline/test-kit";
import { expect, onTestFinished, test } from "vitest";
import { deviceClient, sessionLog, startWorkerProcess } from "./support/control-agent.ts";
import { startProcessStack } from "./support/stack.ts";

test("a worker stalled (SIGSTOP) past its lease loses the turn to another worker; resumed, it stops without publishing into it", async () => {
  const stack = await startProcessStack();
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
  // Read what is stored (not what the client has seen so far), now that the woken worker has exited.
  const stored: { seq: number; type: string; from: string; turn?: string }[] = [];
  for await (const r of stack.agent.history("stall1")) {
    stored.push({ seq: r.seq, type: r.event.type, from: r.event.from.id, turn: r.event.turn });
  }
  expect(stored.some((r) => r.seq === end.seq)).toBe(true);
  const late = stored.filter((r) => r.seq > resumed.seq && r.from === stalled.worker);
  // At most a publish that had passed its lease check the instant the process was stopped.
  expect(late.length).toBeLessThanOrEqual(1);
  expect(late.filter((r) => r.type.startsWith("turn."))).toEqual([]);
  expect(stored.filter((r) => r.turn === turn && r.type === "turn.end")).toHaveLength(1);
  // The client saw exactly what is stored.
  await waitFor(() => log.records.length >= stored.length);
  expect(log.records.map((r) => r.seq)).toEqual(stored.map((r) => r.seq));
});
