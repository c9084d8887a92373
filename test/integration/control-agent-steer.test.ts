import { waitFor } from "@threadline/test-kit";
import { expect, test } from "vitest";
import { messageText, sessionLog } from "./support/control-agent.ts";
import { scriptedSession } from "./support/scripted-pool.ts";

test("a steer from another device reaches the running turn and changes its output", async () => {
  const { phone, laptop } = await scriptedSession("steer1", ["phone", "laptop"]);
  const log = sessionLog(laptop);

  const { id: turn } = await phone.publish({ type: "input", data: { text: "stream 60" } });
  const start = await log.next((r) => r.event.type === "message.start" && r.event.turn === turn);
  const messageId = start.event.ref!;
  await log.next((r) => r.event.type === "message.append" && r.event.ref === messageId);
  await laptop.publish({ type: "steer", turn, data: { text: "shorter please" } });

  const end = await log.next((r) => r.event.type === "turn.end" && r.event.turn === turn);
  expect(end.event.data).toEqual({ status: "completed" });
  const text = messageText(log.records, messageId);
  expect(text).toContain("[steer: shorter please]");
  // The steer lands between deltas, after the first one and before the last one.
  const words = text.trim().split(" ");
  const at = words.indexOf("[steer:");
  expect(at).toBeGreaterThan(0);
  expect(at).toBeLessThan(words.length - 3);
  await waitFor(() => log.records.some((r) => r.event.type === "message.end" && r.event.ref === messageId));
});
