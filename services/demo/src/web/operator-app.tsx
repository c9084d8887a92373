import type { PresenceMember } from "@threadline/protocol";
import { useEffect, useState } from "react";
import { DIRECTORY_SESSION } from "../directory.ts";
import { ChatView } from "./chat-view.tsx";
import { ChecklistView } from "./checklist-view.tsx";
import { ConnectionBadge } from "./connection-badge.tsx";
import { PresenceBar } from "./presence-bar.tsx";
import { CustomerContext } from "./shop-panel.tsx";
import { tabDevice, useSession } from "./use-session.ts";

/** The console lists the newest this many conversations. */
const MAX_LISTED = 50;
/** Presence of the listed conversations is re-read this often (and whenever the list changes). */
const PRESENCE_REFRESH_MS = 5000;

/** `GET /api/control/<session>`: the owner entry (PROTOCOL.md §17.7); `owner: null` inside means handed back. */
interface OwnerEntry {
  owner: { kind: string; id: string } | null;
  since: number;
}

function SessionList({
  onOpen,
  open,
  changed,
}: {
  onOpen: (session: string) => void;
  open: string | undefined;
  /** Bumped when the open conversation changes hands: re-read the owners at once. */
  changed: number;
}) {
  const desk = useSession({ session: DIRECTORY_SESSION, user: "operator-console", role: "operator" });
  const [presence, setPresence] = useState<Record<string, PresenceMember[]>>({});
  const [owners, setOwners] = useState<Record<string, OwnerEntry | null>>({});
  const rows = desk.view.fold.conversations.slice(0, MAX_LISTED);
  const key = rows.map((r) => `${r.session}:${r.seq}`).join(",");
  // biome-ignore lint/correctness/useExhaustiveDependencies: refetch presence and owners when the list changes
  useEffect(() => {
    const read = <T,>(route: string, session: string, apply: (body: T) => void) =>
      fetch(`/api/${route}/${session}`)
        .then((r) => (r.ok ? (r.json() as Promise<T>) : undefined))
        .then((body) => body && apply(body))
        .catch(() => {});
    const load = () => {
      for (const row of rows) {
        void read<{ members: PresenceMember[] }>("presence", row.session, (body) =>
          setPresence((p) => ({ ...p, [row.session]: body.members })),
        );
        void read<{ owner: OwnerEntry | null }>("control", row.session, (body) =>
          setOwners((o) => ({ ...o, [row.session]: body.owner })),
        );
      }
    };
    load();
    const timer = setInterval(load, PRESENCE_REFRESH_MS);
    return () => clearInterval(timer);
  }, [key, changed]);
  return (
    <nav className="sessions" data-testid="session-list">
      <h3>Active conversations</h3>
      {rows.length === 0 && <div className="empty">No conversations yet.</div>}
      {rows.map((r) => {
        const entry = owners[r.session];
        const handler = entry?.owner;
        // Handed back to the agents after the customer asked: the request was dealt with.
        const handedBack = entry !== undefined && entry !== null && !handler && entry.since >= (r.askedAt ?? 0);
        const asks = r.wantsHuman && !handler && !handedBack;
        const left = presence[r.session] && !presence[r.session]!.some((m) => m.kind === "user");
        return (
          <button
            type="button"
            key={r.session}
            className={`session-row ${open === r.session ? "open" : ""} ${asks ? "wants-human" : ""} ${left ? "left" : ""}`}
            data-testid="session-row"
            data-session={r.session}
            data-asks-human={asks}
            onClick={() => onOpen(r.session)}
          >
            <div className="who">
              <span className="user">{r.user}</span>
              <span className="sid" data-testid="session-id">
                {r.session}
              </span>
              {handler && <span className="flag with">with {handler.id}</span>}
              {asks && <span className="flag">asks for a human</span>}
            </div>
            <div className="last">{r.lastText}</div>
            <div className="here">
              {(presence[r.session] ?? []).map((m) => (
                <span key={`${m.kind}.${m.id}`} className={`mini ${m.kind}`}>
                  {m.name ?? m.id}
                </span>
              ))}
            </div>
          </button>
        );
      })}
    </nav>
  );
}

function OpenSession({
  session,
  operator,
  onOwnerChange,
}: {
  session: string;
  operator: string;
  onOwnerChange: () => void;
}) {
  const { view, status, transport, position, members, send, handoff, error } = useSession({
    session,
    user: operator,
    role: "operator",
  });
  const [text, setText] = useState("");
  const owner = view.owner;
  const mine = owner?.id === operator;
  // The session list re-reads owners when this conversation is taken over or handed back.
  // biome-ignore lint/correctness/useExhaustiveDependencies: only a change of owner matters
  useEffect(() => onOwnerChange(), [owner?.id]);
  return (
    <section className="open-session" data-testid="open-session" data-session={session}>
      <header>
        <div className="title">Session {session}</div>
        <ConnectionBadge status={status} transport={transport} position={position} />
        <span className="owner-state" data-testid="owner-state">
          {owner
            ? `owned by ${owner.id}`
            : view.handoffRequested
              ? "the customer asks for a human"
              : "agents are answering"}
        </span>
        {mine ? (
          <button
            type="button"
            data-testid="hand-back"
            onClick={() => handoff("release", `operator ${operator} handed back`)}
          >
            Hand back to agents
          </button>
        ) : (
          <button
            type="button"
            data-testid="take-over"
            onClick={() => handoff("take", `operator ${operator} took over`)}
          >
            Take over
          </button>
        )}
      </header>
      <PresenceBar members={members} me={operator} device={tabDevice()} />
      {error && (
        <div className="error" data-testid="error">
          {error}
        </div>
      )}
      <div className="shared-state">
        <CustomerContext shared={view.shared} />
        <ChecklistView shared={view.shared} />
      </div>
      <ChatView messages={view.messages} turns={view.fold.turns} me={operator} />
      <form
        className="composer"
        onSubmit={(e) => {
          e.preventDefault();
          const t = text.trim();
          if (!t) return;
          setText("");
          send(t);
        }}
      >
        <input
          data-testid="operator-input"
          value={text}
          disabled={!mine}
          onChange={(e) => setText(e.target.value)}
          placeholder={mine ? "Write to the customer…" : "Take over to write to the customer"}
        />
        <button type="submit" data-testid="operator-send" disabled={!mine}>
          Send
        </button>
      </form>
    </section>
  );
}

/** The operator console: conversations on the left, one opened on the right. */
export function OperatorApp({ operator, initial }: { operator: string; initial: string | undefined }) {
  const [open, setOpen] = useState<string | undefined>(initial);
  const [changed, setChanged] = useState(0);
  return (
    <div className="app operator">
      <header className="console-head">
        <div className="brand">
          <span className="logo">⚡</span> Voltstore · operator console
        </div>
        <span className="me">signed in as {operator}</span>
      </header>
      <div className="console">
        <SessionList onOpen={setOpen} open={open} changed={changed} />
        {open ? (
          <OpenSession key={open} session={open} operator={operator} onOwnerChange={() => setChanged((c) => c + 1)} />
        ) : (
          <div className="placeholder">Open a conversation.</div>
        )}
      </div>
    </div>
  );
}
