import type { ThreadlineNotification } from "../service-worker/notification-payload.ts";

/** The payload of PROTOCOL.md §20's example. */
export const SAMPLE: ThreadlineNotification = {
  v: 1,
  type: "threadline.notification",
  id: "n.e1.s-42.123.alice",
  kind: "turn.end",
  session: "s-42",
  user: "alice",
  position: { epoch: "e1", seq: 123, id: "ev-9" },
  count: 3,
  title: "3 updates in your conversation",
  body: "Your answer is ready",
  url: "https://shop.example.com/?session=s-42",
  ts: 1764979200000,
};
