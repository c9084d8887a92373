import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/**
 * The NATS permission model of Threadline, rendered as nats-server (≥ 2.9)
 * configuration: an `APP` account (JetStream) with one least-privilege user
 * per service and per agent, and a separate `SYS` system account.
 *
 * Passwords are never written into the file: each is a `$VARIABLE` that
 * nats-server resolves from its environment at start (and refuses to start
 * when it is missing). The shipped `accounts.conf` ({@link SHIPPED_ACCOUNTS_FILES}:
 * `deploy/nats/accounts.conf` for the local cluster and its copy
 * `deploy/k8s/base/nats/accounts.conf`, since kustomize reads only files under
 * its root) is this renderer's output for the local demo's agent; regenerate
 * both (for your agents) with
 * `node --import tsx deploy/nats/permissions.ts --write example-agent [more-agent-ids…]`,
 * or print one to stdout by leaving out `--write`.
 *
 * What each identity may do (prefix `tl`, stream `THREADLINE`):
 * - agent `<id>`: publish only `tl.*.out.agent.<id>`, `tl.*.ctl.agent.<id>`,
 *   `tl.*.in.agent.<id>` and `tl.*.st.agent.<id>` (its own output, control
 *   and shared-state lanes, and `turn.request` for sub-agents), its own presence keys, the control keys
 *   its role writes — `<session>.turn.<id>` (claims, takeovers, final status)
 *   and `<session>.call.<id>` (its client calls) — and the JetStream API calls
 *   to read sessions and buckets (consumers, direct get) and consume input;
 *   never `<session>.owner` (only the gateway, on an operator's handoff) or
 *   any other control key, another agent's or a user's lane, stream admin.
 *   (Turn and call keys are per session, and a pool serves every session, so
 *   they cannot be narrowed further by subject.)
 * - gateway: publish client events only as users/operators
 *   (`tl.*.{in,ctl,st}.{user,operator}.*`), provision the stream and its buckets,
 *   run consumers, write cursors, presence of its sockets, the control
 *   bucket (pending turns, answered calls, the session owner) and the push
 *   bucket (devices' Web Push subscriptions and notification preferences);
 *   it creates the notify bucket (the notifier's claim ledger) but does not write it;
 *   for the Durable Streams API it writes data streams (`tl.*.data.system.streams`, the
 *   `threadline-streams` bucket) and purges a deleted one's subject.
 * - presence: publish only `tl.*.sys.system.presence`, watch/tombstone the
 *   presence bucket.
 * - notifier: no session subject at all (it never publishes into a
 *   session); read the stream with its durables, read the presence and
 *   control buckets, read and write the push bucket (removing subscriptions
 *   after 404/410) and the notify bucket (claims, burst marks, rate
 *   counters, dead letters). It does not provision: run it with
 *   `THREADLINE_PROVISION=false` under this model.
 * - sys (SYS account): the presence service's disconnect advisories.
 */
export interface AccountsOptions {
  /** Agent ids (participant ids) that get a user each. */
  agents: readonly string[];
  prefix?: string;
  stream?: string;
  cursorBucket?: string;
  presenceBucket?: string;
  controlBucket?: string;
  pushBucket?: string;
  notifyBucket?: string;
  /** Data-stream records of the gateway's Durable Streams API (PROTOCOL.md §21). */
  streamsBucket?: string;
}

/** `$TL_NATS_AGENT_<ID>_PASS`: the env variable holding an agent's password. */
export function agentPasswordVariable(agentId: string): string {
  return `TL_NATS_AGENT_${agentId.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_PASS`;
}

/** Env variables (besides the agents') the rendered config needs. */
export const SERVICE_PASSWORD_VARIABLES = [
  "TL_NATS_GATEWAY_PASS",
  "TL_NATS_PRESENCE_PASS",
  "TL_NATS_NOTIFIER_PASS",
  "TL_NATS_SYS_PASS",
] as const;

const list = (subjects: readonly string[]) => `[${subjects.map((s) => JSON.stringify(s)).join(", ")}]`;

export function renderAccounts(options: AccountsOptions): string {
  const prefix = options.prefix ?? "tl";
  const stream = options.stream ?? "THREADLINE";
  const cursors = options.cursorBucket ?? "threadline-cursors";
  const presence = options.presenceBucket ?? "threadline-presence";
  const control = options.controlBucket ?? "threadline-control";
  const push = options.pushBucket ?? "threadline-push";
  const notify = options.notifyBucket ?? "threadline-notify";
  const streams = options.streamsBucket ?? "threadline-streams";
  for (const id of options.agents) {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) throw new TypeError(`invalid agent id ${JSON.stringify(id)}`);
  }
  /** Reading a stream: info, consumers (ephemeral, ordered, durable), pulls, acks, flow control, direct get. */
  const readStream = (name: string) => [
    `$JS.API.STREAM.INFO.${name}`,
    `$JS.API.CONSUMER.CREATE.${name}`,
    `$JS.API.CONSUMER.CREATE.${name}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${name}.*`,
    `$JS.API.CONSUMER.INFO.${name}.*`,
    `$JS.API.CONSUMER.DELETE.${name}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${name}.*`,
    `$JS.API.DIRECT.GET.${name}`,
    `$JS.API.DIRECT.GET.${name}.>`,
    `$JS.API.STREAM.MSG.GET.${name}`,
    `$JS.ACK.${name}.>`,
    `$JS.FC.${name}.>`,
  ];
  const adminStream = (name: string) => [`$JS.API.STREAM.CREATE.${name}`, `$JS.API.STREAM.UPDATE.${name}`];
  const common = ["$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST"];
  const inbox = ["_INBOX.>"];

  /** One user of the APP account: may publish `publish`, subscribe to its inboxes. */
  const user = (name: string, passwordVariable: string, publish: string[]) => `      {
        user: ${JSON.stringify(name)}, password: $${passwordVariable}
        permissions: {
          publish: { allow: ${list(publish)} }
          subscribe: { allow: ${list(inbox)} }
        }
      }`;
  const agent = (id: string) =>
    user(id, agentPasswordVariable(id), [
      `${prefix}.*.out.agent.${id}`,
      `${prefix}.*.ctl.agent.${id}`,
      `${prefix}.*.in.agent.${id}`,
      `${prefix}.*.st.agent.${id}`,
      `$KV.${presence}.*.agent.${id}.*`,
      `$KV.${control}.*.turn.*`,
      `$KV.${control}.*.call.*`,
      ...common,
      ...readStream(stream),
      ...readStream(`KV_${presence}`),
      ...readStream(`KV_${control}`),
    ]);
  const gateway = user("gateway", "TL_NATS_GATEWAY_PASS", [
    `${prefix}.*.in.user.*`,
    `${prefix}.*.in.operator.*`,
    `${prefix}.*.ctl.user.*`,
    `${prefix}.*.ctl.operator.*`,
    `${prefix}.*.st.user.*`,
    `${prefix}.*.st.operator.*`,
    `$KV.${cursors}.>`,
    `$KV.${presence}.*.user.*.*`,
    `$KV.${presence}.*.operator.*.*`,
    `$KV.${control}.>`,
    `$KV.${push}.>`,
    // Durable Streams data streams (PROTOCOL.md §21.3): appends and closes, their records, DELETE's purge.
    `${prefix}.*.data.system.streams`,
    `$KV.${streams}.>`,
    `$JS.API.STREAM.PURGE.${stream}`,
    ...adminStream(`KV_${streams}`),
    ...readStream(`KV_${streams}`),
    ...common,
    ...adminStream(stream),
    ...adminStream(`KV_${cursors}`),
    ...adminStream(`KV_${presence}`),
    ...adminStream(`KV_${control}`),
    ...adminStream(`KV_${push}`),
    ...adminStream(`KV_${notify}`),
    ...readStream(stream),
    ...readStream(`KV_${cursors}`),
    ...readStream(`KV_${presence}`),
    ...readStream(`KV_${control}`),
    ...readStream(`KV_${push}`),
    ...readStream(`KV_${notify}`),
  ]);
  const presenceService = user("presence", "TL_NATS_PRESENCE_PASS", [
    `${prefix}.*.sys.system.presence`,
    `$KV.${presence}.>`,
    ...common,
    ...adminStream(`KV_${presence}`),
    ...readStream(stream),
    ...readStream(`KV_${presence}`),
  ]);
  const notifier = user("notifier", "TL_NATS_NOTIFIER_PASS", [
    `$KV.${push}.>`,
    `$KV.${notify}.>`,
    ...common,
    ...readStream(stream),
    ...readStream(`KV_${presence}`),
    ...readStream(`KV_${control}`),
    ...readStream(`KV_${push}`),
    ...readStream(`KV_${notify}`),
  ]);
  return `# Threadline NATS accounts and permissions (nats-server >= 2.9).
# Generated by deploy/nats/permissions.ts; see that file for the model.
# Passwords are $VARIABLES resolved from nats-server's environment.
accounts {
  SYS {
    users: [
      {
        user: "sys", password: $TL_NATS_SYS_PASS
        permissions: {
          publish: { allow: ["$SYS.REQ.>"] }
          subscribe: { allow: ["$SYS.ACCOUNT.*.CONNECT", "$SYS.ACCOUNT.*.DISCONNECT", "_INBOX.>"] }
        }
      }
    ]
  }
  APP {
    jetstream: enabled
    users: [
${[gateway, presenceService, notifier, ...options.agents.map(agent)].join("\n")}
    ]
  }
}
system_account: SYS
`;
}

/** The shipped copies of the rendered accounts, relative to the repository root; all have the same content. */
export const SHIPPED_ACCOUNTS_FILES = ["deploy/nats/accounts.conf", "deploy/k8s/base/nats/accounts.conf"] as const;

const REPOSITORY_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Renders the accounts and writes every shipped copy below `root` (default: this repository); returns the paths written. */
export function writeShippedAccounts(options: AccountsOptions, root = REPOSITORY_ROOT): string[] {
  const text = renderAccounts(options);
  return SHIPPED_ACCOUNTS_FILES.map((file) => {
    const path = join(root, file);
    writeFileSync(path, text);
    return path;
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  if (args[0] === "--write") {
    for (const path of writeShippedAccounts({ agents: args.slice(1) })) process.stderr.write(`wrote ${path}\n`);
  } else {
    process.stdout.write(renderAccounts({ agents: args }));
  }
}
