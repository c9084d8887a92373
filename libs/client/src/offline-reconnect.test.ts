import { afterEach, describe, expect, it, vi } from "vitest";
import { attachedSession } from "./test-support/attached-session.ts";

// A browser that reports no network: a reconnect waits for its `online` event instead of failing attempts
// (each one would fetch a token and dial a socket that cannot work), then resumes as usual.
describe("reconnect while the browser is offline", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("waits for `online`, then reconnects and re-attaches", async () => {
    const online = new EventTarget();
    const navigator = { onLine: true };
    vi.stubGlobal("navigator", navigator);
    vi.stubGlobal("addEventListener", online.addEventListener.bind(online));
    vi.stubGlobal("removeEventListener", online.removeEventListener.bind(online));
    let tokens = 0;
    const { gw, conn, statuses } = await attachedSession({ client: { token: async () => `tok-${++tokens}` } });
    navigator.onLine = false;
    conn.terminate();
    await vi.waitFor(() => expect(statuses.at(-1)).toMatchObject({ type: "reconnecting", attempt: 1 }));
    // Well past the backoff (5 ms in the fixture): no attempt while offline.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(tokens).toBe(1);
    expect(statuses.at(-1)?.type).toBe("reconnecting");
    navigator.onLine = true;
    online.dispatchEvent(new Event("online"));
    const next = await gw.nextWelcomed();
    expect(tokens).toBe(2);
    expect((await next.take("attach")).session).toBe("s1");
  });
});
