import { mintToken } from "../integration/support/tokens.ts";
import { GatewaySocket } from "./gateway-socket.ts";
import { mapLimit } from "./pool.ts";

/**
 * The probes' idle live readers, as the peers bench's memory workload opens
 * them: `readers` sockets on the gateway at `url`, 2 per session
 * (`probe-<i>`), one user per session, each attached "now", 64 opening at
 * once. Each socket goes into `into` as soon as it is open, so the caller's
 * cleanup closes them even when opening fails midway. Resolves with the
 * number of sessions.
 */
export async function openProbeReaders(url: string, readers: number, into: GatewaySocket[]): Promise<number> {
  const sessions = Math.ceil(readers / 2);
  const tokens = await Promise.all(
    Array.from({ length: sessions }, (_, i) =>
      mintToken({ sub: `probe-user-${i}`, grants: [{ session: `probe-${i}`, can: ["read"] }] }),
    ),
  );
  await mapLimit(
    Array.from({ length: readers }, (_, i) => i),
    64,
    async (i) => {
      const session = i % sessions;
      const socket = await GatewaySocket.connect(url, tokens[session]!, () => {});
      into.push(socket);
      await socket.attach(`probe-${session}`, "now");
    },
  );
  return sessions;
}
