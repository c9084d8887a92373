import { expect, it } from "vitest";
import { api, usePushStack } from "./support/push-api.ts";

const fx = usePushStack();

const PATH = "/v1/notifications/preferences";
const ALL_ON = { "turn.end": true, approval: true, "tool.call": true, "operator.message": true };

it("defaults at revision 0; a write with the current revision wins, one with a stale revision gets 409", async () => {
  const token = await fx.stack.token({ sub: "prefs-cas" });
  const initial = await api(fx.stack.gateway.port, "GET", PATH, { token });
  expect(initial.status).toBe(200);
  expect(initial.json).toEqual({ preferences: { muted: false, mutedSessions: [], events: ALL_ON }, revision: 0 });

  // Device A mutes a session from revision 0; duplicates are dropped and missing event types read as on.
  const a = await api(fx.stack.gateway.port, "PUT", PATH, {
    token,
    body: { preferences: { muted: false, mutedSessions: ["s-1", "s-1"], events: { approval: false } }, revision: 0 },
  });
  expect(a.status).toBe(200);
  const afterA = a.json as { preferences: unknown; revision: number };
  expect(afterA.preferences).toEqual({ muted: false, mutedSessions: ["s-1"], events: { ...ALL_ON, approval: false } });
  expect(afterA.revision).toBeGreaterThan(0);
  expect((await api(fx.stack.gateway.port, "GET", PATH, { token })).json).toEqual(afterA);

  // Device B still holds revision 0: its write would lose A's change, so it is refused and nothing changes.
  const b = await api(fx.stack.gateway.port, "PUT", PATH, {
    token,
    body: { preferences: { muted: true, mutedSessions: [], events: {} }, revision: 0 },
  });
  expect(b.status).toBe(409);
  expect(b.json).toMatchObject({ code: "PREFERENCES_CONFLICT", retryable: false });
  expect((await api(fx.stack.gateway.port, "GET", PATH, { token })).json).toEqual(afterA);

  // Without a revision the write is unconditional (last writer wins).
  const c = await api(fx.stack.gateway.port, "PUT", PATH, {
    token,
    body: { preferences: { muted: true, mutedSessions: [], events: {} } },
  });
  expect(c.status).toBe(200);
  expect(c.json).toEqual({
    preferences: { muted: true, mutedSessions: [], events: ALL_ON },
    revision: expect.any(Number),
  });
  expect((c.json as { revision: number }).revision).toBeGreaterThan(afterA.revision);
});

it("preferences are per user", async () => {
  const alice = await fx.stack.token({ sub: "prefs-alice" });
  const bob = await fx.stack.token({ sub: "prefs-bob" });
  const muted = { muted: true, mutedSessions: [], events: {} };
  expect((await api(fx.stack.gateway.port, "PUT", PATH, { token: alice, body: { preferences: muted } })).status).toBe(
    200,
  );
  expect((await api(fx.stack.gateway.port, "GET", PATH, { token: bob })).json).toMatchObject({
    preferences: { muted: false },
    revision: 0,
  });
});

let invalidUsers = 0;
it.each([
  ["an unknown event type", { preferences: { muted: false, mutedSessions: [], events: { "turn.start": true } } }],
  ["muted not a boolean", { preferences: { muted: "yes", mutedSessions: [], events: {} } }],
  ["an invalid session id", { preferences: { muted: false, mutedSessions: ["a b"], events: {} } }],
  [
    "201 muted sessions",
    { preferences: { muted: false, mutedSessions: Array.from({ length: 201 }, (_, i) => `s${i}`), events: {} } },
  ],
  ["a negative revision", { preferences: { muted: false, mutedSessions: [], events: {} }, revision: -1 }],
  ["a revision that is a string", { preferences: { muted: false, mutedSessions: [], events: {} }, revision: "3" }],
  ["no preferences", { revision: 0 }],
  ["a body that is not JSON", "muted=true"],
])("refuses %s with 400 INVALID_PREFERENCES and changes nothing", async (_name, body) => {
  const token = await fx.stack.token({ sub: `prefs-invalid-${++invalidUsers}` });
  const reply = await api(fx.stack.gateway.port, "PUT", PATH, { token, body });
  expect(reply.status).toBe(400);
  expect(reply.json).toMatchObject({ code: "INVALID_PREFERENCES", message: expect.any(String), retryable: false });
  expect((await api(fx.stack.gateway.port, "GET", PATH, { token })).json).toMatchObject({ revision: 0 });
});
