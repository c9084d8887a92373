import {
  type CallView,
  type ConnectionStatus,
  createClient,
  type TurnView as SdkTurnView,
  type SessionHandle,
  type SessionOwner,
  type StateHandle,
  type ThreadlineClient,
  type Transport,
} from "@threadline/client";
import {
  ErrorCode,
  type HandoffAction,
  type Message,
  type PresenceMember,
  type SessionRecord,
  type StateObject,
} from "@threadline/protocol";
import { useEffect, useRef, useState } from "react";
import { NetworkAwareWebSocket } from "./network-aware-websocket.ts";
import { applyRecord, EMPTY_SESSION, type SessionState } from "./session-state.ts";

/** What the page shows about its connection: the SDK status folded into four words. */
export type ConnectionLabel = "connecting" | "connected" | "reconnecting" | "offline";

/** Everything the views render about one session. */
export interface SessionView {
  /** Progress per turn, timeline, support desk rows (folded by the demo). */
  fold: SessionState;
  /** Chat messages materialized by the client SDK (`session.messages`). */
  messages: readonly Message[];
  /** Turns not ended yet (`session.control.active`): what Stop cancels. */
  active: readonly SdkTurnView[];
  /** Open client tool calls / approval requests (`session.control.calls`). */
  calls: readonly CallView[];
  owner: SessionOwner;
  handoffRequested: boolean;
  /** The session's shared state objects (`session.states()`, PROTOCOL.md §19), as of the last applied event. */
  shared: Readonly<Record<string, StateObject>>;
}

export interface SessionConnection {
  view: SessionView;
  status: ConnectionLabel;
  /** What carries the session once connected: the WebSocket, or HTTP where the network blocks it. */
  transport: Transport | undefined;
  /** Where the next re-attach resumes (the last applied seq). */
  position: number | undefined;
  members: PresenceMember[];
  /** Publishes user/operator input. */
  send(text: string): void;
  /** Control events through the SDK's typed helpers (errors end up in `error`). */
  cancel(turn: string, reason?: string): void;
  steer(turn: string, text: string): void;
  handoff(action: HandoffAction, reason?: string): void;
  answerTool(call: string, answer: { result: unknown } | { error: string }): void;
  approve(call: string, approved: boolean): void;
  /** Writes shared state object `name` through its handle (`session.state(name)`); errors end up in `error`. */
  writeState(name: string, write: (object: StateHandle) => Promise<unknown>): void;
  /** The last publish/attach error, for a banner. */
  error: string | undefined;
}

const EMPTY_VIEW: SessionView = {
  fold: EMPTY_SESSION,
  messages: [],
  active: [],
  calls: [],
  owner: null,
  handoffRequested: false,
  shared: {},
};

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
export async function fetchToken(user: string, role: string): Promise<string> {
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

/** Rethrows unless another device answered the call first or it closed meanwhile. */
function unlessAnswered(e: unknown): void {
  const code = (e as { code?: unknown }).code;
  if (code !== ErrorCode.CALL_ALREADY_ANSWERED && code !== ErrorCode.CALL_CLOSED) throw e;
}

/** Applied records are folded into React state at most once per this many ms (a burst is one render). */
const RENDER_BATCH_MS = 16;

/**
 * Attaches one session from its start on one client (one WebSocket per
 * page) and keeps what the views need in React state. The SDK resumes from
 * the exact position after every reconnect, so nothing is applied twice or
 * skipped; a refresh replays the history compactly (completed messages as
 * snapshots).
 */
export function useSession(options: { session: string; user: string; role: "user" | "operator" }): SessionConnection {
  const { session, user, role } = options;
  const [view, setView] = useState<SessionView>(EMPTY_VIEW);
  const [status, setStatus] = useState<ConnectionLabel>("connecting");
  const [transport, setTransport] = useState<Transport>();
  const [members, setMembers] = useState<PresenceMember[]>([]);
  const [error, setError] = useState<string>();
  const handleRef = useRef<Promise<SessionHandle> | undefined>(undefined);

  useEffect(() => {
    let client: ThreadlineClient | undefined;
    let pending: SessionRecord[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    let closed = false;
    setView(EMPTY_VIEW);
    const flush = (handle: SessionHandle) => {
      timer = undefined;
      const batch = pending;
      pending = [];
      setView((v) => ({
        fold: batch.reduce(applyRecord, v.fold),
        messages: handle.messages.messages,
        active: handle.control.active,
        calls: handle.control.calls,
        owner: handle.control.owner,
        handoffRequested: handle.control.handoffRequested,
        shared: handle.states(),
      }));
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
      client.onStatus((s) => {
        setStatus(label(s));
        if (s.type === "connected") setTransport(s.transport);
      });
      const c = client;
      // INSUFFICIENT_STATE ends the handle: the stream was recreated or lost events it had delivered
      // (PROTOCOL.md §8.4). What was shown can no longer be continued, so rebuild it from the start.
      const open = async (): Promise<SessionHandle> => {
        // Compact catch-up (PROTOCOL.md §8.5): completed messages come as one snapshot each on a refresh.
        const handle = await c.attach(session, { from: "start", history: "compact" });
        handle.onEvent((record) => {
          pending.push(record);
          timer ??= setTimeout(() => flush(handle), RENDER_BATCH_MS);
        });
        handle.onError((e) => {
          setError(e.message);
          if (e.code !== ErrorCode.INSUFFICIENT_STATE || closed) return;
          clearTimeout(timer);
          timer = undefined;
          pending = [];
          setView(EMPTY_VIEW);
          handleRef.current = open();
          handleRef.current.then(
            () => setError(undefined),
            (error: unknown) => setError(error instanceof Error ? error.message : String(error)),
          );
        });
        handle.presence.onChange(({ members }) => setMembers(members));
        return handle;
      };
      return open();
    })();
    handleRef.current.catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
    return () => {
      closed = true;
      clearTimeout(timer);
      void client?.close();
    };
  }, [session, user, role]);

  const run = (action: (handle: SessionHandle) => Promise<unknown>) => {
    void (async () => {
      const handle = await handleRef.current;
      if (handle) await action(handle);
    })().catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  };
  return {
    view,
    status,
    transport,
    position: view.fold.lastSeq || undefined,
    members,
    send: (text) => run((h) => h.publish({ type: "input", data: { text } })),
    cancel: (turn, reason) => run((h) => h.cancel(turn, reason)),
    steer: (turn, text) => run((h) => h.steer(turn, text)),
    handoff: (action, reason) => run((h) => h.handoff(action, reason)),
    // Every tab of the user answers; the first answer wins and the others are told so — not an error here.
    answerTool: (call, answer) => run((h) => h.answerTool(call, answer).catch(unlessAnswered)),
    approve: (call, approved) => run((h) => h.approve(call, approved).catch(unlessAnswered)),
    writeState: (name, write) => run((h) => write(h.state(name))),
    error,
  };
}
