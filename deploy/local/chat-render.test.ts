import type { SessionRecord } from "@threadline/protocol";
import { expect, test } from "vitest";
import { ChatPrinter } from "./chat-render.ts";

let seq = 0;
function record(type: string, data: unknown, ref?: string): SessionRecord {
  seq += 1;
  return {
    seq,
    event: { id: `e${seq}`, type, data, from: { kind: "agent", id: "triage" }, ...(ref ? { ref } : {}) },
  } as unknown as SessionRecord;
}

/** Printed text without colours. */
function printed(): { printer: ChatPrinter; text: () => string } {
  let out = "";
  const printer = new ChatPrinter((t) => {
    out += t;
  });
  return { printer, text: () => out.replace(/\x1b\[[0-9;]*m/g, "") };
}

// Regression: the terminal chat printed `[progress #661]` without the step's label.
test("a progress event prints its label and status", () => {
  const { printer, text } = printed();
  printer.record(record("progress", { step: "stock", label: "Check stock", status: "done" }));
  printer.record(record("progress", { step: "reserve", status: "running", detail: "1 item" }));
  expect(text()).toBe("[Check stock: done]\n[reserve: running — 1 item]\n");
});

// Regression: `[reconnecting…]` was printed inside a streamed line.
test("a status line cuts a streamed reply cleanly: own line, then the reply continues under its author", () => {
  const { printer, text } = printed();
  printer.record(record("message.start", { id: "m1", role: "assistant", author: { name: "Triage" } }, "m1"));
  printer.record(record("message.append", { part: 0, delta: "Hello " }, "m1"));
  printer.line("[reconnecting in 250 ms…]");
  printer.record(record("message.append", { part: 0, delta: "there." }, "m1"));
  printer.record(record("message.end", { status: "complete" }, "m1"));
  expect(text()).toBe("Triage: Hello \n[reconnecting in 250 ms…]\nTriage: …there.\n");
});

test("two replies streaming at once never share a line", () => {
  const { printer, text } = printed();
  printer.record(record("message.start", { id: "a", role: "assistant", author: { name: "Orders" } }, "a"));
  printer.record(record("message.start", { id: "b", role: "assistant", author: { name: "Returns" } }, "b"));
  printer.record(record("message.append", { part: 0, delta: "order" }, "a"));
  printer.record(record("message.append", { part: 0, delta: "return" }, "b"));
  printer.record(record("message.end", { status: "cancelled" }, "b"));
  printer.record(record("message.end", { status: "complete" }, "a"));
  expect(text()).toBe("Orders: \nReturns: \nOrders: …order\nReturns: …return [cancelled]\n");
});
