import { type NatsServer, startNatsServer } from "@threadline/test-kit";
import { agentPasswordVariable, renderAccounts } from "../../../deploy/nats/permissions.ts";

/** A nats-server running the shipped permission model (deploy/nats/permissions.ts) and its users' passwords. */
export interface PermissionedNats {
  readonly nats: NatsServer;
  /** The gateway user's login. */
  readonly gateway: { user: "gateway"; pass: string };
  /** The password of agent user `id` (one of the agents the server was started for). */
  agentPass(id: string): string;
}

/**
 * Starts a nats-server with the accounts `renderAccounts` writes for `agents`. The passwords
 * (`<user>-<tag>-pass`) go into process.env first, where the rendered configuration reads them.
 * The caller stops the server.
 */
export async function startPermissionedNats(tag: string, agents: string[]): Promise<PermissionedNats> {
  const passwords: Record<string, string> = {
    TL_NATS_GATEWAY_PASS: `gateway-${tag}-pass`,
    TL_NATS_PRESENCE_PASS: `presence-${tag}-pass`,
    TL_NATS_NOTIFIER_PASS: `notifier-${tag}-pass`,
    TL_NATS_SYS_PASS: `sys-${tag}-pass`,
    ...Object.fromEntries(agents.map((id) => [agentPasswordVariable(id), `${id}-${tag}-pass`])),
  };
  Object.assign(process.env, passwords);
  const nats = await startNatsServer({ config: renderAccounts({ agents }) });
  return {
    nats,
    gateway: { user: "gateway", pass: `gateway-${tag}-pass` },
    agentPass: (id) => {
      const pass = passwords[agentPasswordVariable(id)];
      if (pass === undefined) throw new Error(`no agent user ${id} on this server`);
      return pass;
    },
  };
}
