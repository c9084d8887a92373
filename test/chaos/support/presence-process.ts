import { spawnService } from "../../integration/support/service-process.ts";

/** A presence service replica running as its own process (so it can be SIGKILLed). */
export interface PresenceProcess extends AsyncDisposable {
  readonly id: string;
  readonly pid: number;
  /** SIGKILL; resolves when the process is gone. */
  kill(): Promise<void>;
  log(): string;
}

/** Spawns `services/presence/src/main.ts` and resolves once it printed its ready line. */
export async function spawnPresence(id: string, env: Record<string, string>): Promise<PresenceProcess> {
  const service = await spawnService({
    name: `presence ${id}`,
    command: process.execPath,
    args: ["--import", "tsx", "services/presence/src/main.ts"],
    env: {
      THREADLINE_PRESENCE_ID: id,
      THREADLINE_PRESENCE_PORT: "-1",
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn",
      ...env,
    },
    readyEvent: "presence-ready",
  });
  const kill = () => service.signal("SIGKILL");
  return { id, pid: service.pid, kill, log: service.log, [Symbol.asyncDispose]: kill };
}
