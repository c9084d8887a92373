/**
 * Renders nats-server configuration files for test servers. Everything binds
 * to 127.0.0.1 on explicit ports (picked by the caller), so a restart can
 * reuse them.
 */

/** Credentials of the accounts configured by `systemAccount: true`. */
export interface NatsUsers {
  /** User of the `APP` account (JetStream enabled): what application code connects as. */
  app: { user: string; pass: string };
  /** User of the `SYS` system account: for `$SYS.REQ.…` requests. */
  sys: { user: string; pass: string };
}

export const SYSTEM_ACCOUNT_USERS: Readonly<NatsUsers> = Object.freeze({
  app: Object.freeze({ user: "app", pass: "app" }),
  sys: Object.freeze({ user: "sys", pass: "sys" }),
});

export interface ServerConfigInput {
  name: string;
  port: number;
  monitorPort: number;
  /** JetStream store dir; omit to run without JetStream. */
  storeDir?: string;
  systemAccount?: boolean;
  cluster?: { name: string; port: number; routes: number[] };
  /** Appended verbatim, last, so it can override what precedes it. */
  extra?: string;
}

export function renderServerConfig(input: ServerConfigInput): string {
  const lines = [
    "# Written by @threadline/test-kit",
    `server_name: ${quote(input.name)}`,
    `listen: "127.0.0.1:${input.port}"`,
    `http: "127.0.0.1:${input.monitorPort}"`,
  ];
  if (input.storeDir !== undefined) {
    lines.push("jetstream {", `  store_dir: ${quote(input.storeDir)}`, "}");
  }
  if (input.cluster) {
    lines.push(
      "cluster {",
      `  name: ${quote(input.cluster.name)}`,
      `  listen: "127.0.0.1:${input.cluster.port}"`,
      "  routes: [",
      ...input.cluster.routes.map((port) => `    "nats-route://127.0.0.1:${port}"`),
      "  ]",
      "}",
    );
  }
  if (input.systemAccount) {
    const { app, sys } = SYSTEM_ACCOUNT_USERS;
    lines.push(
      "accounts {",
      `  SYS { users: [ { user: ${quote(sys.user)}, password: ${quote(sys.pass)} } ] }`,
      `  APP { jetstream: enabled, users: [ { user: ${quote(app.user)}, password: ${quote(app.pass)} } ] }`,
      "}",
      "system_account: SYS",
    );
  }
  if (input.extra) lines.push("# extra config", input.extra);
  return `${lines.join("\n")}\n`;
}

/** A double-quoted config string (the config format accepts JSON string escapes). */
function quote(value: string): string {
  return JSON.stringify(value);
}
