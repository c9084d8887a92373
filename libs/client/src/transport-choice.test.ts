import { describe, expect, test } from "vitest";
import {
  type AttemptEnd,
  attemptOutcome,
  nextTransport,
  probesWebSocket,
  type TransportMode,
  type TransportPlan,
  welcomeTimeoutMs,
} from "./transport-choice.ts";

const ws = (outcome: AttemptEnd["outcome"]): AttemptEnd => ({ transport: "websocket", outcome });
const http = (outcome: AttemptEnd["outcome"]): AttemptEnd => ({ transport: "http", outcome });
const WS: TransportPlan = { transport: "websocket", immediate: false };
const HTTP: TransportPlan = { transport: "http", immediate: false };
const FALL_BACK: TransportPlan = { transport: "http", immediate: true };

describe("nextTransport", () => {
  test.each<[string, TransportMode, AttemptEnd | undefined, TransportPlan]>([
    ["auto starts on the WebSocket", "auto", undefined, WS],
    ["auto: upgrade refused → HTTP at once", "auto", ws("unreachable"), FALL_BACK],
    ["auto: upgrade stalled (no welcome in time) → HTTP at once", "auto", ws("stalled"), FALL_BACK],
    ["auto: a working WebSocket lost → the WebSocket again, with backoff", "auto", ws("lost"), WS],
    ["auto: HTTP lost → HTTP again (the probe moves it back)", "auto", http("lost"), HTTP],
    ["auto: HTTP stalled → HTTP again", "auto", http("stalled"), HTTP],
    ["auto: HTTP never answered either → the WebSocket again (outage: alternate)", "auto", http("unreachable"), WS],
    ["websocket: always", "websocket", ws("unreachable"), WS],
    ["websocket: first", "websocket", undefined, WS],
    ["http: always", "http", http("unreachable"), HTTP],
    ["http: first", "http", undefined, HTTP],
  ])("%s", (_, mode, last, expected) => {
    expect(nextTransport(mode, last)).toEqual(expected);
  });

  test.each<[string, AttemptEnd, TransportPlan]>([
    ["a refused WebSocket while offline: the WebSocket again, with backoff", ws("unreachable"), WS],
    ["a stalled WebSocket while offline: the same", ws("stalled"), WS],
    ["HTTP that could not reach the gateway while offline: HTTP again", http("unreachable"), HTTP],
  ])("offline: %s", (_, last, expected) => {
    expect(nextTransport("auto", last, false)).toEqual(expected);
  });
});

describe("attemptOutcome", () => {
  test.each([
    ["welcomed, then lost", { welcomed: true, reached: true, stalled: false, code: 1006 }, "lost"],
    ["never opened (upgrade refused)", { welcomed: false, reached: false, stalled: false, code: 1006 }, "unreachable"],
    ["opened, no welcome in time", { welcomed: false, reached: true, stalled: true, code: 1006 }, "stalled"],
    [
      "opened, the gateway closed it (too many sockets)",
      { welcomed: false, reached: true, stalled: false, code: 4005 },
      "lost",
    ],
    ["opened, the gateway refused the token", { welcomed: false, reached: true, stalled: false, code: 4500 }, "lost"],
    [
      "opened, then dropped without a gateway code",
      { welcomed: false, reached: true, stalled: false, code: 1006 },
      "unreachable",
    ],
    [
      "opened, then closed normally by a middlebox",
      { welcomed: false, reached: true, stalled: false, code: 1000 },
      "unreachable",
    ],
  ])("%s → %s", (_, seen, expected) => {
    expect(attemptOutcome(seen)).toBe(expected);
  });
});

describe("probesWebSocket", () => {
  test.each<[TransportMode, "websocket" | "http", boolean]>([
    ["auto", "http", true],
    ["auto", "websocket", false],
    ["http", "http", false],
    ["websocket", "websocket", false],
  ])("%s on %s → %s", (mode, transport, expected) => {
    expect(probesWebSocket(mode, transport)).toBe(expected);
  });
});

describe("welcomeTimeoutMs", () => {
  test.each<[TransportMode, "websocket" | "http", number, number, number]>([
    ["auto", "websocket", 10_000, 3_000, 3_000],
    ["auto", "websocket", 2_000, 3_000, 2_000],
    ["auto", "http", 10_000, 3_000, 10_000],
    ["websocket", "websocket", 10_000, 3_000, 10_000],
    ["http", "http", 10_000, 3_000, 10_000],
  ])("%s on %s (request %d ms, fallback %d ms) → %d ms", (mode, transport, request, fallback, expected) => {
    expect(welcomeTimeoutMs(mode, transport, request, fallback)).toBe(expected);
  });
});
