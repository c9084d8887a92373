import { describe, expect, it } from "vitest";
import { SAMPLE } from "../test-support/sample-notification.ts";
import {
  installThreadlineServiceWorker,
  type ServiceWorkerScopeLike,
  type ThreadlineServiceWorkerOptions,
  windowShowing,
} from "./install.ts";
import type { ThreadlineNotificationOptions } from "./notification-payload.ts";

type Listener = (event: never) => void;
const SAMPLE_URL = SAMPLE.url ?? "";

/**
 * A stand-in for `self` in a service worker (a pure unit test of the wiring; the real browser runs it in
 * test/browser): records notifications shown, windows opened, focused and messaged.
 */
function fakeScope(windowUrls: string[] = []) {
  const listeners = new Map<string, Set<Listener>>();
  const shown: { title: string; options: ThreadlineNotificationOptions | undefined }[] = [];
  const opened: string[] = [];
  const focused: string[] = [];
  const messages: { url: string; message: unknown }[] = [];
  const windows = windowUrls.map((url) => ({
    url,
    focus: async () => {
      focused.push(url);
    },
    postMessage: (message: unknown) => messages.push({ url, message }),
  }));
  const scope = {
    registration: {
      scope: "https://app.example.com/",
      showNotification: async (title: string, options?: ThreadlineNotificationOptions) => {
        shown.push({ title, options });
      },
    },
    clients: {
      matchAll: async () => windows,
      openWindow: async (url: string) => {
        opened.push(url);
        return null;
      },
    },
    addEventListener: (type: string, listener: Listener) => {
      listeners.set(type, (listeners.get(type) ?? new Set()).add(listener));
    },
    removeEventListener: (type: string, listener: Listener) => {
      listeners.get(type)?.delete(listener);
    },
  } as ServiceWorkerScopeLike;
  /** Dispatches an event and resolves once every promise given to waitUntil settled (rejects like it). */
  const dispatch = async (type: string, init: object): Promise<void> => {
    const pending: Promise<unknown>[] = [];
    const event = { ...init, waitUntil: (p: Promise<unknown>) => pending.push(p) };
    for (const listener of listeners.get(type) ?? []) listener(event as never);
    await Promise.all(pending);
  };
  const push = (payload: unknown) =>
    dispatch("push", { data: payload === null ? null : { text: () => JSON.stringify(payload) } });
  const click = (data: unknown) => {
    const notification = {
      data,
      closed: false,
      close() {
        this.closed = true;
      },
    };
    return { notification, done: dispatch("notificationclick", { notification }) };
  };
  const count = (type: string) => listeners.get(type)?.size ?? 0;
  return { scope, shown, opened, focused, messages, push, click, dispatch, count };
}

function installed(options?: ThreadlineServiceWorkerOptions, windows?: string[]) {
  const sw = fakeScope(windows);
  const uninstall = installThreadlineServiceWorker(sw.scope, options);
  return { ...sw, uninstall };
}

describe("push", () => {
  it("shows a Threadline notification: its title, body, the session's tag, renotify, the payload as data", async () => {
    const sw = installed();
    await sw.push(SAMPLE);
    expect(sw.shown).toEqual([
      {
        title: SAMPLE.title,
        options: { body: SAMPLE.body, tag: "threadline:s-42", renotify: true, data: SAMPLE },
      },
    ]);
  });

  it("ignores other payloads and empty pushes", async () => {
    const sw = installed();
    await sw.push({ title: "Sale!" });
    await sw.push(null);
    expect(sw.shown).toEqual([]);
  });

  it("render: its content, null for nothing, undefined for the default; it sees other payloads too", async () => {
    const seen: unknown[] = [];
    const sw = installed({
      render: (notification, data) => {
        seen.push(data);
        if (!notification) return (data as { title?: string }).title ? { title: "App: Sale!", options: {} } : null;
        return notification.count > 1 ? { title: `${notification.count} new`, options: { tag: "mine" } } : undefined;
      },
    });
    await sw.push({ title: "Sale!" });
    await sw.push({ other: true });
    await sw.push(SAMPLE);
    await sw.push({ ...SAMPLE, count: 1 });
    expect(sw.shown.map((s) => s.title)).toEqual(["App: Sale!", "3 new", SAMPLE.title]);
    expect(seen).toHaveLength(4);
  });

  it("a render that throws still shows a Threadline notification the default way", async () => {
    const sw = installed({
      render: () => {
        throw new Error("template broken");
      },
    });
    await sw.push(SAMPLE);
    expect(sw.shown.map((s) => s.options?.tag)).toEqual(["threadline:s-42"]);
    await expect(sw.push({ title: "Sale!" })).rejects.toThrow("template broken");
  });
});

describe("notificationclick", () => {
  it("no window shows the session: closes the notification and opens the payload's url", async () => {
    const sw = installed(undefined, ["https://app.example.com/?session=other"]);
    const { notification, done } = sw.click(SAMPLE);
    await done;
    expect(notification.closed).toBe(true);
    expect(sw.opened).toEqual([SAMPLE.url]);
    expect(sw.focused).toEqual([]);
  });

  it("a window already shows it: focuses it and posts threadline.open with the position", async () => {
    const sw = installed(undefined, ["https://app.example.com/", `${SAMPLE.url}#bottom`]);
    await sw.click(SAMPLE).done;
    expect(sw.opened).toEqual([]);
    expect(sw.focused).toEqual([`${SAMPLE.url}#bottom`]);
    expect(sw.messages).toEqual([
      {
        url: `${SAMPLE.url}#bottom`,
        message: { type: "threadline.open", session: "s-42", position: SAMPLE.position },
      },
    ]);
  });

  it.each([
    ["a template (relative to the scope)", "/chat/{session}", "https://app.example.com/chat/s-42"],
    ["a function", () => "https://other.example.com/s", "https://other.example.com/s"],
    ["a function without an answer (the payload's url)", () => undefined, SAMPLE.url],
  ] as [string, ThreadlineServiceWorkerOptions["openUrl"], string][])("openUrl as %s", async (_name, openUrl, url) => {
    const sw = installed({ openUrl });
    await sw.click(SAMPLE).done;
    expect(sw.opened).toEqual([url]);
  });

  it("chooseWindow: the window it picks is focused and told, whatever its URL; undefined opens a new one", async () => {
    const chat = "https://app.example.com/?session=other&user=ann";
    const seen: [number, string, string][] = [];
    const sw = installed(
      {
        chooseWindow: (windows, url, notification) => {
          seen.push([windows.length, url, notification.session]);
          return windows.find((w) => w.url === chat);
        },
      },
      ["https://app.example.com/operator", chat],
    );
    await sw.click(SAMPLE).done;
    expect(seen).toEqual([[2, SAMPLE.url, "s-42"]]);
    expect([sw.opened, sw.focused]).toEqual([[], [chat]]);
    expect(sw.messages).toEqual([
      { url: chat, message: { type: "threadline.open", session: "s-42", position: SAMPLE.position } },
    ]);

    const none = installed({ chooseWindow: () => undefined }, [SAMPLE_URL]);
    await none.click(SAMPLE).done;
    expect([none.opened, none.focused]).toEqual([[SAMPLE_URL], []]);
  });

  it.each([
    ["the same URL", [SAMPLE_URL], SAMPLE_URL],
    ["the same URL with a fragment", ["https://x.example/", `${SAMPLE_URL}#m-7`], `${SAMPLE_URL}#m-7`],
    ["another query", [`${SAMPLE_URL}&user=ann`], undefined],
    ["no window", [], undefined],
  ] as [string, string[], string | undefined][])("windowShowing (the default): %s", (_name, urls, expected) => {
    const windows = urls.map((u) => ({ url: u, focus: async () => undefined, postMessage: () => undefined }));
    expect(windowShowing(windows, SAMPLE_URL)?.url).toBe(expected);
  });

  it("no url anywhere: the worker's scope", async () => {
    const { url: _url, ...withoutUrl } = SAMPLE;
    const sw = installed();
    await sw.click(withoutUrl).done;
    expect(sw.opened).toEqual(["https://app.example.com/"]);
  });

  it("leaves another part of the app's notifications alone", async () => {
    const sw = installed();
    const { notification, done } = sw.click({ app: "cart reminder" });
    await done;
    expect([notification.closed, sw.opened]).toEqual([false, []]);
  });
});

describe("installation", () => {
  it("pushsubscriptionchange reaches the callback only when given, kept alive until it settles", async () => {
    const changes: unknown[] = [];
    const sw = installed({
      onPushSubscriptionChange: async (event) => {
        await Promise.resolve();
        changes.push(event.newSubscription);
      },
    });
    await sw.dispatch("pushsubscriptionchange", { newSubscription: "new-sub" });
    expect(changes).toEqual(["new-sub"]);
    expect(installed().count("pushsubscriptionchange")).toBe(0);
  });

  it("the returned function removes every listener", async () => {
    const sw = installed({ onPushSubscriptionChange: () => undefined });
    expect([sw.count("push"), sw.count("notificationclick"), sw.count("pushsubscriptionchange")]).toEqual([1, 1, 1]);
    sw.uninstall();
    expect([sw.count("push"), sw.count("notificationclick"), sw.count("pushsubscriptionchange")]).toEqual([0, 0, 0]);
    await sw.push(SAMPLE);
    expect(sw.shown).toEqual([]);
  });
});
