import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectAgent, type SubjectRecord } from "@threadline/agent";
import { startNatsServer } from "@threadline/test-kit";
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import { runCli } from "../../libs/cli/src/cli.ts";
import { runCliProcess } from "../../libs/cli/src/test-support/cli-process.ts";

// `threadline publish` as a process against a real nats-server with user/password auth.
const nats = await startNatsServer({ systemAccount: true });
const app = nats.users?.app as { user: string; pass: string };
const agent = await connectAgent({ servers: nats.url, ...app, id: "reader" });
afterAll(async () => {
  await agent.close();
  await nats.stop();
});
const auth = { NATS_URL: nats.url, NATS_USER: app.user, NATS_PASS: app.pass };

async function history(session: string): Promise<SubjectRecord[]> {
  const records: SubjectRecord[] = [];
  for await (const r of agent.history(session)) records.push(r);
  return records;
}

describe("threadline publish", () => {
  it("stores an event as the given participant in the type's lane, and a retry with the same id once", async () => {
    const args = [
      "publish",
      "pub-s1",
      "input",
      "--text",
      "where is my order?",
      "--as",
      "user:alice",
      "--device",
      "tab-1",
    ];
    const first = await runCliProcess([...args, "--id", "evt-fixed-1", "--json"], auth);
    expect(first.code).toBe(0);
    const ack = JSON.parse(first.stdout.join(""));
    expect(ack).toMatchObject({
      session: "pub-s1",
      id: "evt-fixed-1",
      duplicate: false,
      subject: "tl.pub-s1.in.user.alice",
    });

    const again = await runCliProcess([...args, "--id", "evt-fixed-1", "--json"], auth);
    expect(JSON.parse(again.stdout.join(""))).toMatchObject({ seq: ack.seq, duplicate: true });

    const records = await history("pub-s1");
    expect(records).toHaveLength(1);
    expect(records[0]?.seq).toBe(ack.seq);
    expect(records[0]?.event).toMatchObject({
      id: "evt-fixed-1",
      type: "input",
      from: { kind: "user", id: "alice", device: "tab-1" },
      data: { text: "where is my order?" },
    });
  });

  // Regression (issue 13 §1): a duplicate ack was reported as stored whoever held the id.
  it("the same --id in another session is stored; held by another author of the session it is EVENT_ID_CONFLICT", async () => {
    const err: string[] = [];
    const out: string[] = [];
    const io = {
      out: (l: string) => out.push(l),
      err: (l: string) => err.push(l),
      env: auth,
      signal: new AbortController().signal,
      now: Date.now,
    };
    const publish = (session: string, as: string) =>
      runCli(["publish", session, "input", "--text", "hi", "--as", as, "--id", "evt-cli-shared", "--json"], io);
    expect(await publish("pub-c1", "user:alice")).toBe(0);
    expect(await publish("pub-c2", "user:bob")).toBe(0);
    const [a, b] = out.map((l) => JSON.parse(l) as { seq: number; duplicate: boolean });
    expect(a?.duplicate).toBe(false);
    expect(b).toMatchObject({ duplicate: false });
    expect(b?.seq).not.toBe(a?.seq);
    expect(await publish("pub-c1", "user:bob")).toBe(1);
    expect(err.join("\n")).toContain("EVENT_ID_CONFLICT");
    expect((await history("pub-c1")).map((r) => r.event.from.id)).toEqual(["alice"]);
  });

  it("takes JSON data from a flag, a file or stdin, with turn, ref and a traceparent", async () => {
    const trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const inline = await runCliProcess(
      [
        "publish",
        "pub-s2",
        "progress",
        "--data",
        '{"step":"search","status":"running"}',
        "--turn",
        "t1",
        "--trace",
        trace,
      ],
      auth,
    );
    expect(inline.code).toBe(0);
    expect(inline.stdout.join("")).toMatch(/^stored progress \S+ at seq \d+ on tl\.pub-s2\.out\.agent\.cli$/);
    const file = join(tmpdir(), `cli-publish-${process.pid}.json`);
    writeFileSync(file, '{"status":"complete"}');
    onTestFinished(() => rmSync(file, { force: true }));
    expect(
      (await runCliProcess(["publish", "pub-s2", "turn.end", "--data-file", file, "--turn", "t1"], auth)).code,
    ).toBe(0);
    const stdin = await runCliProcess(
      ["publish", "pub-s2", "presence.note", "--data-file", "-", "--as", "system:ops", "--ref", "r1"],
      auth,
      '{"hello":"from stdin"}',
    );
    expect(stdin.code).toBe(0);

    const records = await history("pub-s2");
    expect(records.map((r) => [r.subject, r.event.type, r.event.data])).toEqual([
      ["tl.pub-s2.out.agent.cli", "progress", { step: "search", status: "running" }],
      ["tl.pub-s2.out.agent.cli", "turn.end", { status: "complete" }],
      ["tl.pub-s2.sys.system.ops", "presence.note", { hello: "from stdin" }],
    ]);
    expect(records[0]?.event).toMatchObject({ turn: "t1", trace });
    expect(records[2]?.event.ref).toBe("r1");
  });

  it("refuses bad input with typed errors and stores nothing", async () => {
    const cases: [string[], number, string][] = [
      [["publish", "pub-s3", "Not A Type"], 1, "INVALID_FRAME"],
      [["publish", "pub-s3", "input", "--data", "{oops"], 1, "INVALID_FRAME"],
      [["publish", "pub-s3", "input", "--trace", "00-abc"], 1, "INVALID_FRAME"],
      [["publish", "pub-s3", "input", "--as", "robot:x"], 2, "--as must be"],
      [["publish", "pub-s3", "input", "--as", "user"], 2, "--as must be"],
      [["publish", "pub-s3", "input", "--device", "d1"], 2, "--device is for user and operator"],
      [["publish", "pub-s3", "input", "--text", "a", "--data", "{}"], 2, "only one of"],
      [["publish", "pub-s3", "input", "--lane", "side"], 2, "--lane must be"],
      [["publish", "pub-s3"], 2, "missing <type>"],
      [["publish", "bad.session", "input"], 1, "INVALID_SESSION"],
    ];
    // In-process (the same runCli the bin runs): these fail before connecting.
    for (const [args, code, message] of cases) {
      const err: string[] = [];
      const io = {
        out: () => {},
        err: (l: string) => err.push(l),
        env: auth,
        signal: new AbortController().signal,
        now: Date.now,
      };
      expect({ args, code: await runCli(args, io) }).toEqual({ args, code });
      expect(err.join("\n")).toContain(message);
    }
    // And one as a process: the exit code and the message reach the shell.
    const proc = await runCliProcess(["publish", "pub-s3", "input", "--data", "{oops"], auth);
    expect(proc.code).toBe(1);
    expect(proc.stderr.join("\n")).toMatch(/^threadline publish: INVALID_FRAME: --data is not valid JSON/);
    expect(await history("pub-s3")).toHaveLength(0);
  });

  it("authenticates with flags, and reports a refused login as UNAVAILABLE", async () => {
    const login = (password: string, ...more: string[]) =>
      runCliProcess([
        "publish",
        "pub-s4",
        "note",
        "--server",
        nats.url,
        "--user",
        app.user,
        "--password",
        password,
        ...more,
      ]);
    const ok = await login(app.pass, "--json");
    expect(ok.code).toBe(0);
    const refused = await login("wrong");
    expect(refused.code).toBe(1);
    expect(refused.stderr.join("\n")).toMatch(/UNAVAILABLE: cannot connect to NATS .*(authorization|Authorization)/);
    expect(await history("pub-s4")).toHaveLength(1);
  });

  it("authenticates with a token (flag or NATS_TOKEN)", async () => {
    const tokenServer = await startNatsServer({ config: 'authorization { token: "s3cret-token" }' });
    onTestFinished(() => tokenServer.stop());
    const owner = await connectAgent({ servers: tokenServer.url, token: "s3cret-token", id: "provisioner" });
    onTestFinished(() => owner.close());
    const byFlag = await runCliProcess([
      "publish",
      "tok-s1",
      "note",
      "--server",
      tokenServer.url,
      "--token",
      "s3cret-token",
    ]);
    expect(byFlag.code).toBe(0);
    const byEnv = await runCliProcess(["tail", "tok-s1", "--once", "--json"], {
      NATS_URL: tokenServer.url,
      NATS_TOKEN: "s3cret-token",
    });
    expect(byEnv.code).toBe(0);
    expect(byEnv.stdout.map((line) => JSON.parse(line).event.type)).toEqual(["note"]);
    const without = await runCliProcess(["tail", "tok-s1", "--once"], { NATS_URL: tokenServer.url });
    expect(without.code).toBe(1);
    expect(without.stderr.join("\n")).toContain("UNAVAILABLE");
  });
});
