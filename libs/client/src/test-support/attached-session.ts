import type { AttachFrame, HelloFrame } from "@threadline/protocol";
import type { AttachOptions, ThreadlineClient } from "../client-api.ts";
import type { ClientOptions } from "../client-options.ts";
import type { ConnectionStatus } from "../connection-status.ts";
import type { SessionHandle } from "../session-handle.ts";
import { testClient } from "./client-fixture.ts";
import { type FakeConnection, FakeGateway, type WelcomeOverrides } from "./fake-gateway.ts";

/** How a test's gateway, client and first attach are set up; every field has the usual default. */
export interface SessionSetup {
  /** FakeGateway.start options (default: auto-pong). */
  gateway?: { autoPong?: boolean };
  /** testClient options. */
  client?: Partial<ClientOptions>;
  /** The session attached (default `s1`). */
  session?: string;
  attach?: AttachOptions;
  /** The first socket's `welcome`. */
  welcome?: WelcomeOverrides;
}

export interface PendingAttach {
  gw: FakeGateway;
  client: ThreadlineClient;
  statuses: ConnectionStatus[];
  /** The first socket, welcomed; the `attach` on it is not read yet. */
  conn: FakeConnection;
  hello: HelloFrame;
  /** The app's `client.attach()`, unanswered: the test answers (or fails) it. */
  attaching: Promise<SessionHandle>;
}

/**
 * Starts a fake gateway and a test client (both stopped when the test
 * finishes), calls `client.attach()` and welcomes the socket it opens.
 */
export async function pendingAttach(setup: SessionSetup = {}): Promise<PendingAttach> {
  const gw = await FakeGateway.start(setup.gateway);
  const { client, statuses } = testClient(gw.url, setup.client);
  const attaching = client.attach(setup.session ?? "s1", setup.attach);
  const conn = await gw.nextConnection();
  const hello = await conn.welcome(setup.welcome);
  return { gw, client, statuses, conn, hello, attaching };
}

export interface AttachedSession extends Omit<PendingAttach, "attaching"> {
  /** The attach frame the client sent. */
  attach: AttachFrame;
  handle: SessionHandle;
}

/**
 * `pendingAttach`, with the attach answered `attached {epoch, from}`
 * (default `e1` from 0) and the handle resolved.
 */
export async function attachedSession(
  setup: SessionSetup & { epoch?: string; from?: number } = {},
): Promise<AttachedSession> {
  const { attaching, ...pending } = await pendingAttach(setup);
  const attach = await pending.conn.attached(setup.epoch ?? "e1", setup.from ?? 0);
  return { ...pending, attach, handle: await attaching };
}
