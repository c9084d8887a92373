import { isDeepStrictEqual } from "node:util";
import { type AgentSession, openSession } from "@threadline/agent";
import { createClient, type SessionHandle, type ThreadlineClient, ThreadlineError } from "@threadline/client";
import {
  ErrorCode,
  emptySessionState,
  type JsonValue,
  type PathSegment,
  type SessionState,
  type StateObject,
  stepState,
} from "@threadline/protocol";
import { waitFor } from "@threadline/test-kit";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlledWebSocket, controlledWebSocket } from "./support/controlled-websocket.ts";
import { type Stack, startStack } from "./support/stack.ts";

// Property (issue 15): three devices and an agent apply random state ops on
// a user object and an agent- object, concurrently, while device sockets are
// dropped or frozen mid-write; every participant ends with exactly the sequential
// replay (stepState) of the state ops stored in the stream, every write
// settles (applied, or a STATE_* / FORBIDDEN verdict) and none hangs.

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.[Symbol.asyncDispose]();
});

const OBJECTS = ["doc", "agent-plan"] as const;
/** Paths of the ops: `[]` (the whole value) is rarer, else most ops would meet a scalar and fail STATE_PATH. */
const PATHS: PathSegment[][] = [[], ["a"], ["a"], ["n"], ["n"], ["list"], ["list"], ["list", 0], ["a", "b"]];
/** Refusals a write may end with: a lost race or a pre-check (nothing else is expected here). */
const EXPECTED_REFUSALS = new Set<string>([
  ErrorCode.STATE_CONFLICT,
  ErrorCode.STATE_PATH,
  ErrorCode.STATE_TOO_LARGE,
  ErrorCode.FORBIDDEN,
]);
/** A write not settled this long after it was issued counts as hung. */
const HANG_MS = 15_000;

/** The write surface the client SDK's and the agent SDK's state handles share. */
interface Writable {
  readonly version: number;
  set(path: PathSegment[], value: JsonValue, o?: { ifVersion?: number }): Promise<number>;
  merge(patch: { [key: string]: JsonValue }, o?: { ifVersion?: number; path?: PathSegment[] }): Promise<number>;
  delete(path?: PathSegment[], o?: { ifVersion?: number }): Promise<number>;
  increment(path: PathSegment[], by?: number, o?: { ifVersion?: number }): Promise<number>;
  insert(path: PathSegment[], value: JsonValue, index?: number, o?: { ifVersion?: number }): Promise<number>;
  remove(path: PathSegment[], index: number, o?: { ifVersion?: number }): Promise<number>;
}

const value = fc.oneof(
  fc.integer({ min: -3, max: 3 }),
  fc.constantFrom<JsonValue>("x", null, { b: 1 }, [1, 2], { list: [] }),
);
const opPlan = fc.record({
  /** 0–2: a device, 3: the agent. */
  actor: fc.integer({ min: 0, max: 3 }),
  /** The object a device writes (the agent writes `doc` when `drop`, else its own agent- object). */
  object: fc.constantFrom<(typeof OBJECTS)[number]>("doc", "doc", "doc", "agent-plan"),
  kind: fc.constantFrom("set", "merge", "delete", "increment", "insert", "remove"),
  path: fc.constantFrom(...PATHS),
  value,
  index: fc.integer({ min: 0, max: 2 }),
  cas: fc.constantFrom("none", "none", "current", "current", "stale"),
  /** Drop the actor's socket right after issuing the write (it is in flight then: resent after the reconnect). */
  drop: fc.boolean(),
  /** Else stop reading the actor's socket this long right after issuing (a frozen tab; ignored when dropping). */
  freezeMs: fc.constantFrom(undefined, undefined, undefined, 40, 150),
});
type OpPlan = typeof opPlan extends fc.Arbitrary<infer T> ? T : never;

function issue(handle: Writable, plan: OpPlan): Promise<number> {
  const version = handle.version;
  const o =
    plan.cas === "none" ? {} : { ifVersion: plan.cas === "current" ? version : version === 0 ? 1 : version - 1 };
  switch (plan.kind) {
    case "set":
      return handle.set(plan.path, plan.value, o);
    case "merge":
      return handle.merge({ k: plan.value, [`m${plan.index}`]: plan.index }, { ...o, path: plan.path });
    case "delete":
      return handle.delete(plan.path, o);
    case "increment":
      return handle.increment(plan.path, plan.index + 1, o);
    case "insert":
      return handle.insert(plan.path, plan.value, plan.index, o);
    default:
      return handle.remove(plan.path, plan.index, o);
  }
}

/** Settles a write: its version, or its refusal's code; throws if it hung. */
async function settle(write: Promise<number>): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`a state write did not settle within ${HANG_MS} ms`)), HANG_MS);
  });
  try {
    return await Promise.race([write, hang]);
  } catch (error) {
    if (error instanceof ThreadlineError) return error.code;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** The outcome of a raw agent publish: stored without a pre-check, its effect decided by the fold. */
const RAW = "stored-unchecked";

function rawAgentSet(session: string, object: string, plan: OpPlan, version: number): Promise<string> {
  const op = { object, op: "set", path: plan.path, value: plan.value, ifVersion: version === 0 ? 1 : version - 1 };
  return stack.agent.publish(session, { type: "state", data: op }, { lane: "st" }).then(() => RAW);
}

/** The stored state ops of the session, replayed in stream order; plus the seqs that applied. */
async function replay(session: string): Promise<{ state: SessionState; applied: Set<number>; rejected: number }> {
  let state = emptySessionState();
  const applied = new Set<number>();
  let rejected = 0;

  for await (const record of stack.agent.history(session)) {
    if (record.subject.split(".")[2] !== "st") continue;
    const step = stepState(state, record);
    state = step.state;
    if (step.outcome === "applied") applied.add(record.seq);
    else rejected++;
  }
  return { state, applied, rejected };
}

const agentView = (handles: Record<string, { get(): JsonValue | undefined; version: number; updatedBy: unknown }>) =>
  Object.fromEntries(
    OBJECTS.flatMap((name) => {
      const h = handles[name]!;
      return h.version === 0 ? [] : [[name, { value: h.get(), version: h.version, updatedBy: h.updatedBy }]];
    }),
  ) as Record<string, StateObject>;

let runs = 0;
let appliedWrites = 0;
let refusedWrites = 0;
let foldRejections = 0;

describe("shared state (property)", () => {
  it("every device and the agent end equal to the sequential replay of the stored ops, across dropped and frozen sockets", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(opPlan, { minLength: 1, maxLength: 5 }), { minLength: 4, maxLength: 10 }),
        fc.boolean(),
        async (rounds, lateJoin) => {
          const session = `state-prop-${process.pid}-${++runs}`;
          const devices: {
            client: ThreadlineClient;
            net: ControlledWebSocket;
            handle?: SessionHandle;
            dropped: number;
          }[] = [];
          let agentSession: AgentSession | undefined;
          try {
            for (const [i, sub] of ["alice", "bob", "alice"].entries()) {
              const net = controlledWebSocket();
              const client = createClient({
                url: stack.gateway.url,
                token: () => stack.token({ sub }),
                device: `dev${i}`,
                WebSocket: net.WebSocket as never,
                reconnect: { initialDelayMs: 5, maxDelayMs: 50 },
              });
              devices.push({ client, net, dropped: 0 });
            }
            const attach = (i: number, from: "start" | "now") =>
              devices[i]!.client.attach(session, { from }).then((h) => {
                devices[i]!.handle = h;
              });
            await Promise.all([attach(0, "start"), attach(1, "start"), lateJoin ? undefined : attach(2, "start")]);
            agentSession = await openSession(stack.agent, session, { presence: false });
            const agentHandles = {
              doc: await agentSession.state("doc"),
              "agent-plan": await agentSession.state("agent-plan"),
            };

            const outcomes: (number | string)[] = [];
            for (const [r, round] of rounds.entries()) {
              // The third device joins from "now" after the first round: its state comes from the snapshot.
              if (lateJoin && r === 1) await attach(2, "now");
              const writes = round.flatMap((plan) => {
                const device = plan.actor < 3 ? devices[plan.actor]! : undefined;
                if (device && !device.handle) return [];
                const handle = (
                  device ? device.handle!.state(plan.object) : agentHandles[plan.drop ? "doc" : "agent-plan"]
                ) as Writable;
                // A stale compare-and-set from the agent goes in raw (no pre-check): it is stored, and the fold
                // rejects it (conflict) — a verdict every participant must reach alike.
                const write =
                  !device && plan.cas === "stale"
                    ? rawAgentSet(session, plan.drop ? "doc" : "agent-plan", plan, handle.version)
                    : settle(issue(handle, plan));
                if (device && plan.drop) {
                  device.net.drop();
                  device.dropped++;
                } else if (device && plan.freezeMs !== undefined) {
                  // ws throws on pause/resume of a socket that is not open (still reconnecting after a drop).
                  const socket = device.net;
                  const tryTo = (f: () => void) => {
                    try {
                      f();
                    } catch {}
                  };
                  tryTo(() => socket.pause());
                  setTimeout(() => tryTo(() => socket.resume()), plan.freezeMs);
                }
                return [write];
              });
              outcomes.push(...(await Promise.all(writes)));
            }

            for (const o of outcomes) if (typeof o === "string" && o !== RAW) expect(EXPECTED_REFUSALS).toContain(o);
            const { state: expected, applied, rejected } = await replay(session);
            // Every raw stale write is stored and rejected by the fold (its ifVersion is below the object's).
            expect(rejected).toBeGreaterThanOrEqual(outcomes.filter((o) => o === RAW).length);
            // A write that resolved applied names a stored op the replay applied too (0: it deleted the object).
            for (const o of outcomes) if (typeof o === "number" && o > 0) expect(applied).toContain(o);
            appliedWrites += outcomes.filter((o) => typeof o === "number").length;
            refusedWrites += outcomes.filter((o) => typeof o === "string" && o !== RAW).length;
            foldRejections += rejected;

            for (const [i, d] of devices.entries()) {
              await waitFor(() => isDeepStrictEqual(d.handle!.states(), expected.objects), {
                timeoutMs: 10_000,
                message: `device ${i} did not converge to the replay`,
              });
              expect(d.handle!.states()).toEqual(expected.objects);
              // The disruptions really happened: a dropped socket was replaced.
              if (d.dropped > 0) await waitFor(() => d.net.opened > 1, { message: `device ${i} did not reconnect` });
            }
            await waitFor(() => isDeepStrictEqual(agentView(agentHandles), expected.objects), {
              timeoutMs: 10_000,
              message: "the agent did not converge to the replay",
            });
            expect(agentView(agentHandles)).toEqual(expected.objects);
          } finally {
            await agentSession?.close();
            await Promise.all(devices.map((d) => d.client.close()));
          }
        },
      ),
      // Shrinking a hang (15 s per hung write) could outlast the test's timeout: stop it in time to report.
      { numRuns: 20, interruptAfterTimeLimit: 90_000, markInterruptAsFailure: true },
    );
    // The runs exercised all three endings: applied writes, refused writes, stored ops the fold rejected.
    expect(appliedWrites).toBeGreaterThan(0);
    expect(refusedWrites).toBeGreaterThan(0);
    expect(foldRejections).toBeGreaterThan(0);
  }, 120_000);
});
