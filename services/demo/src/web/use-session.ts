import { type ConnectionStatus, createClient, type SessionHandle, type ThreadlineClient } from "@threadline/client";
import type { ClientEvent, PresenceMember, SessionRecord } from "@threadline/protocol";
import { useEffect, useRef, useState } from "react";
import { NetworkAwareWebSocket } from "./network-aware-websocket.ts";
import { applyRecord, EMPTY_SESSION, type SessionState } from "./session-state.ts";

/** What the page shows about its connection: the SDK status folded into three words. */
export type ConnectionLabel = "connecting" | "connected" | "reconnecting" | "offline";

export interface SessionConnection {
  state: SessionState;
  status: ConnectionLabel;
  /** Where the next re-attach resumes (the last applied seq). */
  position: number | undefined;
  members: PresenceMember[];
  /** Publishes a client event (input, cancel, handoff, tool.result…); rejects with the gateway's error. */
  publish(event: ClientEvent): Promise<void>;
  /** The last publish/attach error, for a banner. */
  error: string | undefined;
}

interface Config {
  gatewayUrl: string;
}
let configPromise: Promise<Config> | undefined;
/** The gateway URL from the demo server (fetched once per page). */
export function loadConfig(): Promise<Config> {
  configPromise ??= fetch("/api/config").then((r) => r.json() as Promise<Config>);
  return configPromise;
}

/** A development token from the demo server (`/api/token`, dev-only). */
async function fetchToken(user: string, role: string): Promise<string> {
  const response = await fetch(`/api/token?user=${encodeURIComponent(user)}&role=${role}`);
  if (!response.ok) throw new Error(`token endpoint answered ${response.status}`);
  return ((await response.json()) as { token: string }).token;
}

/** A stable id for this tab (survives a refresh of the tab, not a new tab). */
export function tabDevice(): string {
  const key = "threadline-demo-device";
  let id = sessionStorage.getItem(key);
  if (!id) {
    id = `tab-${Math.random().toString(36).slice(2, 10)}`;
    sessionStorage.setItem(key, id);
  }
  return id;
}

function label(status: ConnectionStatus): ConnectionLabel {
  switch (status.type) {
    case "connected":
      return "connected";
    case "idle":
      return "connecting";
    case "connecting":
      if (status.attempt === 0) return "connecting";
      return navigator.onLine ? "reconnecting" : "offline";
    case "reconnecting":
      return navigator.onLine ? "reconnecting" : "offline";
    case "closed":
      return "offline";
  }
}

/** Applied records are folded into React state at most once per this many ms (a burst is one render). */
const RENDER_BATCH_MS = 16;

/**
 * Attaches one session from its start on one client (one WebSocket per
 * page) and keeps the folded state, connection status and presence in React
 * state. The SDK resumes from the exact position after every reconnect, so
 * nothing is applied twice or skipped.
 */
export function useSession(options: { session: string; user: string; role: "user" | "operator" }): SessionConnection {
  const { session, user, role } = options;
  const [state, setState] = useState<SessionState>(EMPTY_SESSION);
  const [status, setStatus] = useState<ConnectionLabel>("connecting");
  const [members, setMembers] = useState<PresenceMember[]>([]);
  const [error, setError] = useState<string>();
  const handleRef = useRef<Promise<SessionHandle> | undefined>(undefined);

  useEffect(() => {
    let client: ThreadlineClient | undefined;
    let pending: SessionRecord[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    let closed = false;
    setState(EMPTY_SESSION);
    const flush = () => {
      timer = undefined;
      const batch = pending;
      pending = [];
      setState((s) => batch.reduce(applyRecord, s));
    };
    handleRef.current = (async () => {
      const { gatewayUrl } = await loadConfig();
      client = createClient({
        url: gatewayUrl,
        token: () => fetchToken(user, role),
        device: tabDevice(),
        WebSocket: NetworkAwareWebSocket,
      });
      if (closed) void client.close();
      client.onStatus((s) => setStatus(label(s)));
      const handle = await client.attach(session, { from: "start" });
      handle.onEvent((record) => {
        pending.push(record);
        timer ??= setTimeout(flush, RENDER_BATCH_MS);
      });
      handle.onError((e) => setError(e.message));
      handle.presence.onChange(({ members }) => setMembers(members));
      return handle;
    })();
    handleRef.current.catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
    return () => {
      closed = true;
      clearTimeout(timer);
      void client?.close();
    };
  }, [session, user, role]);

  const publish = async (event: ClientEvent) => {
    try {
      const handle = await handleRef.current;
      if (!handle) throw new Error("not attached");
      await handle.publish(event);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      throw e;
    }
  };
  return { state, status, position: state.lastSeq || undefined, members, publish, error };
}
