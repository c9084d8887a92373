import { expect, test } from "vitest";
import { deviceClient, messageText, sessionLog } from "./support/control-agent.ts";
import { serveScripted } from "./support/scripted-pool.ts";
import { testStack } from "./support/stack.ts";

test("two concurrent turns in one session interleave; cancelling one leaves the other to complete", async () => {
  const stack = await testStack();
  await serveScripted(stack, { name: "researcher", concurrency: 4 });
  const session = await deviceClient(stack, "alice", "tab").attach("concurrent1", { from: "start" });
  const log = sessionLog(session);

  const { id: first } = await session.publish({ type: "input", data: { text: "stream 300" } });
  const { id: second } = await session.publish({ type: "input", data: { text: "stream 40" } });
  const startOf = async (turn: string) =>
    (await log.next((r) => r.event.type === "message.start" && r.event.turn === turn)).event.ref!;
  const [firstMessage, secondMessage] = [await startOf(first), await startOf(second)];
  // Cancel once both turns are streaming side by side: the second turn's fifth delta (its worker may pick
  // the second input up a little after the first; cancelling at its very first delta left no overlap to see).
  await log.next(
    (r) =>
      r.event.type === "message.append" &&
      r.event.ref === secondMessage &&
      (r.event.data as { delta: string }).delta === "4 ",
  );
  await session.publish({ type: "cancel", turn: first });

  const firstEnd = await log.next((r) => r.event.type === "turn.end" && r.event.turn === first);
  expect(firstEnd.event.data).toMatchObject({ status: "cancelled" });
  const secondEnd = await log.next((r) => r.event.type === "turn.end" && r.event.turn === second);
  expect(secondEnd.event.data).toEqual({ status: "completed" });
  expect(firstEnd.seq).toBeLessThan(secondEnd.seq);

  // Interleaved: deltas of both messages alternate in the stream while both ran.
  const turnsInOrder = log.records.filter((r) => r.event.type === "message.append").map((r) => r.event.turn);
  const switches = turnsInOrder.filter((t, i) => i > 0 && t !== turnsInOrder[i - 1]).length;
  expect(switches).toBeGreaterThan(2);
  // The second turn's message is whole; the first stopped early.
  expect(messageText(log.records, secondMessage).trim().split(" ")).toHaveLength(40);
  expect(messageText(log.records, firstMessage).trim().split(" ").length).toBeLessThan(300);
  const firstMessageEnd = await log.next((r) => r.event.type === "message.end" && r.event.ref === firstMessage);
  expect(firstMessageEnd.event.data).toEqual({ status: "cancelled" });
});
