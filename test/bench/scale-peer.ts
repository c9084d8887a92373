import uWS from "uWebSockets.js";
import { encodeMsgpack } from "@threadline/protocol";

/**
 * The `scale` scenario's peer: a plain uWebSockets.js server (the same
 * package and settings the gateway uses: no compression, no auth, no NATS,
 * no sessions) whose sockets join a pub/sub topic from the URL
 * (`?group=fanout`). `{type: "publish", n}` over IPC publishes one event
 * frame (the gateway's msgpack shape) to the `fanout` topic — uWS's own
 * broadcast, the floor for a one-to-N fan-out in this process model.
 * Ready message: `{type: "ready", port}`.
 */
const app = uWS.App();
let open = 0;
app.ws<{ group: string }>("/*", {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 * 1024,
  idleTimeout: 10,
  sendPingsAutomatically: true,
  upgrade: (res, req, context) => {
    const group = new URLSearchParams(req.getQuery() ?? "").get("group") ?? "idle";
    res.upgrade(
      { group },
      req.getHeader("sec-websocket-key"),
      req.getHeader("sec-websocket-protocol"),
      req.getHeader("sec-websocket-extensions"),
      context,
    );
  },
  open: (ws) => {
    open++;
    if (ws.getUserData().group === "fanout") ws.subscribe("fanout");
  },
  close: () => {
    open--;
  },
});

const port = await new Promise<number>((resolve, reject) =>
  app.listen("127.0.0.1", 0, (socket) =>
    socket ? resolve(uWS.us_socket_local_port(socket)) : reject(new Error("listen failed")),
  ),
);

process.on("message", (message: { type: string; n?: number }) => {
  if (message.type === "publish") {
    const frame = encodeMsgpack({
      op: "event",
      session: "fanout",
      seq: message.n,
      event: { id: `e${message.n}`, type: "bench.fanout", data: { n: message.n } },
    });
    app.publish("fanout", frame, true);
  } else if (message.type === "count") process.send?.({ type: "count", open });
});
process.on("SIGTERM", () => process.exit(0));
process.send?.({ type: "ready", port });
