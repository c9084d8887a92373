import type { WindowClientLike } from "@threadline/client/service-worker";
import { describe, expect, it } from "vitest";
import { chooseDemoWindow, notificationTarget } from "./open-target.ts";

const SCOPE = "http://127.0.0.1:5173/";

describe("notificationTarget", () => {
  it.each([
    [
      "the payload's url (npm start's THREADLINE_NOTIFY_OPEN_URL)",
      "http://127.0.0.1:5173/?session=s1",
      "customer",
      "http://127.0.0.1:5173/?session=s1",
    ],
    [
      "with the user when it is not the default",
      "http://127.0.0.1:5173/?session=s1",
      "alice",
      "http://127.0.0.1:5173/?session=s1&user=alice",
    ],
    [
      "a url naming its user keeps it",
      "http://127.0.0.1:5173/?session=s1&user=bob",
      "alice",
      "http://127.0.0.1:5173/?session=s1&user=bob",
    ],
    ["a relative url", "/?session=s1", "customer", "http://127.0.0.1:5173/?session=s1"],
    [
      "another origin: this worker's customer view instead",
      "https://shop.example/chat/s1",
      "alice",
      "http://127.0.0.1:5173/?session=s1&user=alice",
    ],
    ["no url", undefined, "customer", "http://127.0.0.1:5173/?session=s1"],
  ])("%s", (_name, url, user, target) => {
    expect(notificationTarget({ session: "s1", user, ...(url === undefined ? {} : { url }) }, SCOPE)).toBe(target);
  });
});

describe("chooseDemoWindow", () => {
  const tab = (url: string): WindowClientLike => ({ url, focus: async () => undefined, postMessage: () => undefined });
  const target = "http://127.0.0.1:5173/?session=s1&user=alice";

  it.each([
    ["the tab already showing the target", [tab(`${SCOPE}?session=s2&user=alice`), tab(target)], target],
    [
      "else a customer tab of the same user (it switches session)",
      [tab(`${SCOPE}operator`), tab(`${SCOPE}?session=s2&user=alice`)],
      `${SCOPE}?session=s2&user=alice`,
    ],
    ["not another user's tab", [tab(`${SCOPE}?session=s2`), tab(`${SCOPE}?session=s3&user=bob`)], undefined],
    ["not the operator console", [tab(`${SCOPE}operator?session=s1&user=alice`)], undefined],
    ["no tab", [], undefined],
  ])("%s", (_name, windows, chosen) => {
    expect(chooseDemoWindow(windows, target, { user: "alice" })?.url).toBe(chosen);
  });
});
