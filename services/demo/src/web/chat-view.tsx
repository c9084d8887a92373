import type { Message } from "@threadline/protocol";
import { useLayoutEffect, useRef } from "react";
import type { TurnView } from "./session-state.ts";

const AGENT_NAMES: Record<string, string> = {
  triage: "Triage agent",
  orders: "Order agent",
  returns: "Returns agent",
  research: "Product research agent",
  stores: "Store finder",
};

/** The text of a message's text parts (reasoning, tool and data parts are not shown by this demo). */
function textOf(m: Message): string {
  return m.parts.map((p) => (p.type === "text" && "text" in p ? String(p.text) : "")).join("");
}

function authorLabel(m: Message, me: string): string {
  if (m.author.kind === "operator") return `${m.author.name ?? m.author.id} (support team)`;
  if (m.author.kind === "user") return m.author.id === me ? "You" : m.author.id;
  return m.author.name ?? AGENT_NAMES[m.author.id] ?? m.author.id;
}

function MessageBubble({ message, me }: { message: Message; me: string }) {
  const mine = message.author.kind === "user" && message.author.id === me;
  return (
    <div
      className={`message ${message.author.kind} ${mine ? "mine" : ""}`}
      data-testid="message"
      data-message-id={message.id}
      data-role={message.role}
      data-author-kind={message.author.kind}
      data-author={message.author.id}
      data-status={message.status}
    >
      <div className="author">{authorLabel(message, me)}</div>
      <div className="text" data-testid="message-text">
        {textOf(message)}
        {message.status === "streaming" && <span className="cursor" />}
      </div>
      {message.status !== "complete" && message.status !== "streaming" && <div className="badge">{message.status}</div>}
    </div>
  );
}

function TurnCard({ turn, onStop }: { turn: TurnView; onStop?: (turn: string) => void }) {
  return (
    <div
      className={`turn ${turn.status}`}
      data-testid="turn"
      data-turn={turn.id}
      data-agent={turn.agent}
      data-status={turn.status}
    >
      <div className="turn-head">
        <span className="agent">{AGENT_NAMES[turn.agent ?? ""] ?? turn.agent}</span>
        <span className="turn-status">{turn.status}</span>
        {onStop && turn.status === "running" && (
          <button type="button" className="stop-one" data-testid="stop-turn" onClick={() => onStop(turn.id)}>
            Stop
          </button>
        )}
      </div>
      <ol className="steps">
        {turn.steps.map((s) => (
          <li key={s.step} className={`step ${s.status}`} data-testid="step" data-step={s.step} data-status={s.status}>
            <span className="step-dot" />
            <span className="label">{s.label}</span>
            {s.detail && <span className="detail">{s.detail}</span>}
          </li>
        ))}
      </ol>
    </div>
  );
}

/** Messages and the agents' progress cards, in session order. */
export function ChatView({
  messages,
  turns,
  me,
  onStop,
}: {
  messages: readonly Message[];
  turns: readonly TurnView[];
  me: string;
  onStop?: (turn: string) => void;
}) {
  const items: { seq: number; node: React.ReactNode }[] = [
    ...messages.map((m) => ({ seq: m.seq, node: <MessageBubble key={`m-${m.id}`} message={m} me={me} /> })),
    ...turns
      .filter((t) => t.steps.length > 0)
      .map((t) => ({ seq: t.seq, node: <TurnCard key={`t-${t.id}`} turn={t} {...(onStop ? { onStop } : {})} /> })),
  ].sort((a, b) => a.seq - b.seq);
  const ref = useRef<HTMLDivElement>(null);
  // Follow the conversation: keep the newest content in view as it streams.
  useLayoutEffect(() => {
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
  });
  return (
    <div className="chat" data-testid="chat" ref={ref}>
      {items.length === 0 && <div className="empty">No messages yet.</div>}
      {items.map((i) => i.node)}
    </div>
  );
}
