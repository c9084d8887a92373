import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection, Status, Subscription } from "@nats-io/transport-node";
import { type PresenceMember, Subjects } from "@threadline/protocol";
import { followPresence, provisionThreadline } from "@threadline/store";
import { pino } from "pino";
import type { PresenceConfig } from "./config.ts";
import { followDisconnects } from "./disconnect-advisories.ts";
import { createPresenceMetrics, type PresenceMetrics } from "./metrics.ts";
import { PresenceMonitor } from "./presence-monitor.ts";
import { createPresencePublisher } from "./presence-publisher.ts";

export type Logger = pino.Logger;

export interface PresenceDeps {
  /** A connected NATS client of the application account; the service does not close it. */
  nc: NatsConnection;
  /** A connection as a system-account user, for disconnect advisories; without it, heartbeat expiry only. */
  sys?: NatsConnection;
  logger?: Logger;
}

export interface PresenceService extends AsyncDisposable {
  readonly metrics: PresenceMetrics;
  /** HTTP port of /healthz and /metrics (undefined when disabled). */
  readonly httpPort: number | undefined;
  /** Connections currently present, as this replica sees them. */
  readonly connections: number;
  /** Whether crash detection through disconnect advisories is active. */
  readonly advisories: boolean;
  /** Members of a session as this replica sees them. */
  members(session: string): PresenceMember[];
  /** Stops watching; publishes already accepted are awaited. */
  close(): Promise<void>;
}

/**
 * Composition root of the presence service: follows the presence bucket,
 * publishes join/update/leave into the sessions, writes `crashed`
 * tombstones on disconnect advisories and `timeout` tombstones on heartbeat
 * expiry. Any number of replicas may run: each transition is stored once.
 */
export async function createPresenceService(config: PresenceConfig, deps: PresenceDeps): Promise<PresenceService> {
  const log = deps.logger ?? pino({ name: "presence", level: config.logLevel, base: { service: "presence" } });
  const { nc } = deps;
  const metrics = createPresenceMetrics();
  const subjects = new Subjects(config.subjectPrefix);
  if (config.provision) {
    await provisionThreadline(nc, {
      stream: config.stream,
      prefix: config.subjectPrefix,
      replicas: config.replicas,
      presenceBucket: config.presenceBucket,
    });
  }
  const js = jetstream(nc);
  const kv = await new Kvm(js).open(config.presenceBucket);
  const jsm = await jetstreamManager(nc);
  const publisher = createPresencePublisher(
    js,
    subjects,
    config.stream,
    metrics,
    log,
    async (seq) => (await jsm.streams.getMessage(config.stream, { seq })) ?? undefined,
  );
  const monitor = new PresenceMonitor(kv, publisher, metrics, log);

  let advisories: Subscription | undefined;
  if (deps.sys) {
    advisories = followDisconnects(
      deps.sys,
      (client) => {
        metrics.advisories.inc();
        monitor.onDisconnect(client);
      },
      log,
    );
  } else log.warn("no system-account connection: crashed agents are detected by heartbeat expiry only");

  let watching = true;
  const feed = followPresence(kv, ">", {
    onChange: (change) => monitor.apply(change),
    onInvalid: (key, problem) => {
      metrics.invalidEntries.inc({ reason: problem.split(" ")[0] ?? "invalid" });
      log.warn({ key, problem }, "ignored invalid presence entry");
    },
    onEnd: (error) => {
      // Without the watch nothing is detected any more: report not ready so an orchestrator restarts us.
      watching = false;
      metrics.watching.set(0);
      log.error({ err: error }, "presence watch ended; the service is not ready");
    },
  });
  const snapshotStarted = performance.now();
  await feed.ready;
  metrics.snapshotSeconds.set((performance.now() - snapshotStarted) / 1000);
  metrics.watching.set(watching ? 1 : 0);
  // The connection is the caller's: stop following its status on close (the iterator has stop() at runtime).
  const statuses = nc.status() as AsyncIterable<Status> & { stop?: () => void };
  void (async () => {
    for await (const status of statuses) {
      if (status.type === "reconnect") {
        metrics.natsReconnects.inc();
        log.info({ server: status.server }, "NATS reconnected");
      }
    }
  })().catch(() => {});
  monitor.reconcile(config.reconcileWindowMs);
  const sweeper = setInterval(() => monitor.sweep(), config.sweepMs);

  let http: Server | undefined;
  if (config.httpPort >= 0) {
    http = createServer((req, res) => {
      if (req.url === "/healthz" || req.url === "/readyz") {
        const ok = watching && !nc.isClosed();
        res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ok" : "not ready");
      } else if (req.url === "/metrics") {
        void metrics.registry.metrics().then((body) => {
          res.writeHead(200, { "content-type": metrics.registry.contentType }).end(body);
        });
      } else res.writeHead(404).end("not found");
    });
    await new Promise<void>((resolve, reject) => {
      http?.once("error", reject);
      http?.listen(config.httpPort, resolve);
    });
  }
  const httpPort = http ? (http.address() as AddressInfo).port : undefined;
  log.info(
    { presenceId: config.presenceId, bucket: config.presenceBucket, advisories: Boolean(advisories), httpPort },
    "presence service running",
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(sweeper);
      statuses.stop?.();
      feed.stop();
      advisories?.unsubscribe();
      await publisher.idle();
      await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
      log.info({ presenceId: config.presenceId }, "presence service stopped");
    })();
    return closing;
  };
  return {
    metrics,
    httpPort,
    get connections() {
      return monitor.size;
    },
    advisories: advisories !== undefined,
    members: (session) => monitor.members(session),
    close,
    [Symbol.asyncDispose]: close,
  };
}
