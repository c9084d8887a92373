import type { PresenceMember } from "@threadline/protocol";
import { useEffect, useState } from "react";
import { DIRECTORY_SESSION } from "../directory.ts";
import { ChatView } from "./chat-view.tsx";
import { ConnectionBadge } from "./connection-badge.tsx";
import { PresenceBar } from "./presence-bar.tsx";
import { tabDevice, useSession } from "./use-session.ts";

/** The console lists the newest this many conversations. */
const MAX_LISTED = 50;
/** Presence of the listed conversations is re-read this often (and whenever the list changes). */
const PRESENCE_REFRESH_MS = 5000;

function SessionList({ onOpen, open }: { onOpen: (session: string) => void; open: string | undefined }) {
  const desk = useSession({ session: DIRECTORY_SESSION, user: "operator-console", role: "operator" });
  const [presence, setPresence] = useState<Record<string, PresenceMember[]>>({});
  const rows = desk.view.fold.conversations.slice(0, MAX_LISTED);
  const key = rows.map((r) => `${r.session}:${r.seq}`).join(",");
  // biome-ignore lint/correctness/useExhaustiveDependencies: refetch presence when the list changes
  useEffect(() => {
    const load = () => {
      for (const row of rows) {
        fetch(`/api/presence/${row.session}`)
          .then((r) => (r.ok ? (r.json() as Promise<{ members: PresenceMember[] }>) : undefined))
          .then((body) => body && setPresence((p) => ({ ...p, [row.session]: body.members })))
          .catch(() => {});
      }
    };
    load();
    const timer = setInterval(load, PRESENCE_REFRESH_MS);
    return () => clearInterval(timer);
  }, [key]);
  return (
    <nav className="sessions" data-testid="session-list">
      <h3>Active conversations</h3>
      {rows.length === 0 && <div className="empty">No conversations yet.</div>}
      {rows.map((r) => (
        <button
          type="button"
          key={r.session}
          className={`session-row ${open === r.session ? "open" : ""} ${r.wantsHuman ? "wants-human" : ""} ${
            presence[r.session] && !presence[r.session]!.some((m) => m.kind === "user") ? "left" : ""
          }`}
          data-testid="session-row"
          data-session={r.session}
          onClick={() => onOpen(r.session)}
        >
          <div className="who">
            {r.user} {r.wantsHuman && <span className="flag">asks for a human</span>}
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
      ))}
    </nav>
  );
}

function OpenSession({ session, operator }: { session: string; operator: string }) {
  const { view, status, position, members, send, handoff, error } = useSession({
    session,
    user: operator,
    role: "operator",
  });
  const [text, setText] = useState("");
  const owner = view.owner;
  const mine = owner?.id === operator;
  return (
    <section className="open-session" data-testid="open-session" data-session={session}>
      <header>
        <div className="title">Session {session}</div>
        <ConnectionBadge status={status} position={position} />
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
  return (
    <div className="app operator">
      <header className="console-head">
        <div className="brand">
          <span className="logo">⚡</span> Voltstore · operator console
        </div>
        <span className="me">signed in as {operator}</span>
      </header>
      <div className="console">
        <SessionList onOpen={setOpen} open={open} />
        {open ? (
          <OpenSession key={open} session={open} operator={operator} />
        ) : (
          <div className="placeholder">Open a conversation.</div>
        )}
      </div>
    </div>
  );
}
