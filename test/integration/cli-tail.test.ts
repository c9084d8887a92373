import { waitFor } from "@threadline/test-kit";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { runCliProcess, spawnCli } from "../../libs/cli/src/test-support/cli-process.ts";
import { startCliTarget } from "./support/cli-target.ts";

// `threadline tail` as a process against a real nats-server.
const { nats, agent } = await startCliTarget("triage");

const seqs: number[] = [];
beforeAll(async () => {
  seqs.push((await agent.publish("tail-s1", { type: "message.start", ref: "m1", data: { role: "assistant" } })).seq);
  seqs.push((await agent.publish("other", { type: "note", data: { text: "not this session" } })).seq);
  seqs.push(
    (await agent.publish("tail-s1", { type: "message.append", ref: "m1", data: { part: 0, delta: "Hello" } })).seq,
  );
  seqs.push((await agent.publish("tail-s1", { type: "message.end", ref: "m1", data: { status: "complete" } })).seq);
});

describe("threadline tail", () => {
  it("prints the stored timeline, then follows new events until interrupted", async () => {
    const tail = spawnCli(["tail", "tail-s1", "--from", "0"], { NATS_URL: nats.url });
    onTestFinished(async () => void (await tail.stop("SIGKILL")));
    await waitFor(() => tail.stdout.length >= 3, { message: () => `stdout: ${tail.stdout.join("\n")}` });
    expect(tail.stdout[0]).toMatch(
      new RegExp(`^\\s+${seqs[0]}\\s+\\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\s+agent:triage\\s+message\\.start`),
    );
    expect(tail.stdout[1]).toContain('"Hello"');
    expect(tail.stdout[1]).toContain("ref=m1");
    expect(tail.stdout[2]).toMatch(/message\.end\s+ref=m1 complete/);
    expect(tail.stdout.join("\n")).not.toContain("not this session");
    await waitFor(() => tail.stderr.some((l) => l.includes("caught up")));

    const live = await agent.publish("tail-s1", {
      type: "progress",
      turn: "t1",
      data: { step: "search", status: "running" },
    });
    await waitFor(() => tail.stdout.length >= 4, { message: () => `stdout: ${tail.stdout.join("\n")}` });
    expect(tail.stdout[3]).toMatch(new RegExp(`^\\s+${live.seq}\\s.*progress\\s+turn=t1 search running`));

    expect(await tail.stop("SIGINT")).toBe(0);
  });

  it("keeps following across a NATS server restart, with nothing lost or repeated", async () => {
    const marker = await agent.publish("tail-s2", { type: "note", data: { n: 0 } });
    const tail = spawnCli(["tail", "tail-s2", "--from", String(marker.seq), "--json"], { NATS_URL: nats.url });
    onTestFinished(async () => void (await tail.stop("SIGKILL")));
    const before = await agent.publish("tail-s2", { type: "note", data: { n: 1 } });
    await waitFor(() => tail.stdout.length >= 1);
    await nats.restart();
    const after = await agent.publish("tail-s2", { type: "note", data: { n: 2 } });
    await waitFor(() => tail.stdout.length >= 2, { timeoutMs: 20_000, message: () => tail.stderr.join("\n") });
    expect(tail.stdout.map((line) => JSON.parse(line).seq)).toEqual([before.seq, after.seq]);
    expect(await tail.stop("SIGINT")).toBe(0);
  });

  it("--json --once prints one JSON record per stored event and exits", async () => {
    const { code, stdout } = await runCliProcess(["tail", "tail-s1", "--from", String(seqs[0]), "--once", "--json"], {
      NATS_URL: nats.url,
    });
    expect(code).toBe(0);
    const records = stdout.map((line) => JSON.parse(line));
    expect(records.map((r) => r.seq)).toEqual([seqs[2], seqs[3], expect.any(Number)]);
    expect(records[0].event).toMatchObject({
      type: "message.append",
      ref: "m1",
      from: { kind: "agent", id: "triage" },
    });
    expect(records[0].subject).toBe("tl.tail-s1.out.agent.triage");
  });

  it("without --from starts with the last -n stored events", async () => {
    const { code, stdout } = await runCliProcess(["tail", "tail-s1", "-n", "2", "--once", "--json"], {
      NATS_URL: nats.url,
    });
    expect(code).toBe(0);
    const types = stdout.map((line) => JSON.parse(line).event.type);
    expect(types).toEqual(["message.end", "progress"]);
  });

  it("--type keeps only the given types and their dotted subtypes", async () => {
    const { code, stdout } = await runCliProcess(
      ["tail", "tail-s1", "--from", "0", "--once", "--json", "--type", "message", "-t", "progress"],
      { NATS_URL: nats.url },
    );
    expect(code).toBe(0);
    const types = stdout.map((line) => JSON.parse(line).event.type);
    expect(types).toEqual(["message.start", "message.append", "message.end", "progress"]);
    const none = await runCliProcess(["tail", "tail-s1", "--from", "0", "--once", "--json", "--type", "messages"], {
      NATS_URL: nats.url,
    });
    expect(none.stdout).toEqual([]);
  });

  it("refuses a position beyond the stream and a malformed session id", async () => {
    const beyond = await runCliProcess(["tail", "tail-s1", "--from", "999999", "--once"], { NATS_URL: nats.url });
    expect(beyond.code).toBe(1);
    expect(beyond.stderr.join("\n")).toContain("INVALID_POSITION");
    const bad = await runCliProcess(["tail", "no.dots", "--once"], { NATS_URL: nats.url });
    expect(bad.code).toBe(1);
    expect(bad.stderr.join("\n")).toContain("INVALID_SESSION");
    const usage = await runCliProcess(["tail", "tail-s1", "--from", "yesterday"], { NATS_URL: nats.url });
    expect(usage.code).toBe(2);
  });

  it("fails with UNAVAILABLE when NATS cannot be reached", async () => {
    const { code, stderr } = await runCliProcess(["tail", "tail-s1", "--once", "--server", "nats://127.0.0.1:1"]);
    expect(code).toBe(1);
    expect(stderr.join("\n")).toContain("UNAVAILABLE");
  });

  it("a command that does not exit in time is killed, and the error names it with its output (test support)", async () => {
    const running = runCliProcess(["tail", "tail-s1", "--from", "0"], { NATS_URL: nats.url }, undefined, 3_000);
    await expect(running).rejects.toThrow(
      /threadline tail tail-s1 --from 0 did not exit within 3000 ms[\s\S]*--- stdout ---\n.*message\.start[\s\S]*--- stderr ---\n-- caught up/,
    );
  });
});
