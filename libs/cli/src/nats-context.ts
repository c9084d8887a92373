import { readFileSync } from "node:fs";
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { ErrorCode, ThreadlineError } from "@threadline/protocol";
import { lookupThreadline, type ThreadlineStreamInfo } from "@threadline/store";
import type { ConnectionSettings } from "./cli-options.ts";

/** An open connection to Threadline's NATS, as every command uses it. */
export interface NatsContext extends AsyncDisposable {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  info: ThreadlineStreamInfo;
  settings: ConnectionSettings;
  /**
   * Opens a KV bucket that must already exist; undefined when it does not (nothing is created).
   * Any other failure (e.g. no permission to read it) throws `UNAVAILABLE`.
   */
  bucket(name: string): Promise<KV | undefined>;
  close(): Promise<void>;
}

/**
 * Connects with the settings' credentials and looks the Threadline stream up
 * (never creates or changes it). `follow` keeps reconnecting forever (tail);
 * otherwise a lost connection fails the command. Connection failures become
 * `ThreadlineError(UNAVAILABLE)` naming the servers.
 */
export async function openNatsContext(settings: ConnectionSettings, follow = false): Promise<NatsContext> {
  const options: NodeConnectionOptions = {
    servers: settings.servers,
    name: "threadline-cli",
    maxReconnectAttempts: follow ? -1 : 3,
  };
  if (settings.user !== undefined) options.user = settings.user;
  if (settings.pass !== undefined) options.pass = settings.pass;
  if (settings.token !== undefined) options.token = settings.token;
  if (settings.creds !== undefined) {
    let creds: Uint8Array;
    try {
      creds = readFileSync(settings.creds);
    } catch (error) {
      throw new ThreadlineError(ErrorCode.UNAVAILABLE, `cannot read the creds file ${settings.creds}`, {
        cause: error,
        retryable: false,
      });
    }
    options.authenticator = credsAuthenticator(creds);
  }
  let nc: NatsConnection;
  try {
    nc = await connect(options);
  } catch (error) {
    throw new ThreadlineError(
      ErrorCode.UNAVAILABLE,
      `cannot connect to NATS at ${settings.servers.join(",")}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  try {
    const info = await lookupThreadline(nc, {
      stream: settings.stream,
      prefix: settings.prefix,
      livePrefix: settings.livePrefix,
    });
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const kvm = new Kvm(js);
    const close = async () => {
      if (!nc.isClosed()) await nc.close();
    };
    return {
      nc,
      js,
      jsm,
      info,
      settings,
      async bucket(name) {
        try {
          await jsm.streams.info(`KV_${name}`);
        } catch (error) {
          if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return undefined;
          throw new ThreadlineError(
            ErrorCode.UNAVAILABLE,
            `cannot read the KV bucket ${name}: ${(error as Error).message}`,
            {
              cause: error,
            },
          );
        }
        return kvm.open(name);
      },
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await nc.close().catch(() => {});
    throw error;
  }
}
