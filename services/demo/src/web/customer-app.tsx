import { useEffect, useRef, useState } from "react";
import { ChatView } from "./chat-view.tsx";
import { ChecklistView } from "./checklist-view.tsx";
import { ConnectionBadge } from "./connection-badge.tsx";
import { NotifyButton, NotifyNotice, useNotifyControl } from "./notify-control.tsx";
import { PresenceBar } from "./presence-bar.tsx";
import { ShopPanel } from "./shop-panel.tsx";
import { TimelinePanel } from "./timeline-panel.tsx";
import { tabDevice, useSession } from "./use-session.ts";

/** Reads the browser's position for the agents' `geolocation` client tool. */
function currentPosition(): Promise<{ lat: number; lon: number }> {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) return reject(new Error("geolocation is not available"));
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude }),
      (e) => reject(new Error(e.message || "location permission denied")),
      { timeout: 10_000 },
    );
  });
}

const SUGGESTIONS = [
  "Is this one in stock?",
  "I want to buy this one",
  "Research the Aurora headphones and compare them",
  "I want to buy the Aurora headphones and return order 1042",
  "Find a store near me",
  "I want to buy the Nimbus laptop",
];

/** The customer's chat: one session shared by every tab and device of the user. */
export function CustomerApp({ session, user }: { session: string; user: string }) {
  const {
    view,
    status,
    transport,
    position,
    members,
    send: sendText,
    cancel,
    steer,
    handoff,
    answerTool,
    approve,
    writeState,
    error,
  } = useSession({
    session,
    user,
    role: "user",
  });
  const [text, setText] = useState("");
  const [showTimeline, setShowTimeline] = useState(false);
  const notify = useNotifyControl(user);
  const answered = useRef(new Set<string>());
  const device = tabDevice();
  const running = view.active;
  const operator = view.owner;

  // Answer client tool calls addressed to this user's devices (the first answer from any tab wins).
  useEffect(() => {
    for (const call of view.calls) {
      if (call.kind !== "tool" || call.name !== "geolocation" || answered.current.has(call.call)) continue;
      answered.current.add(call.call);
      currentPosition().then(
        (result) => answerTool(call.call, { result }),
        (e: unknown) => answerTool(call.call, { error: e instanceof Error ? e.message : String(e) }),
      );
    }
  }, [view.calls, answerTool]);

  const send = (value: string) => {
    const trimmed = value.trim();
    if (!trimmed) return;
    setText("");
    sendText(trimmed);
  };
  /** Stop: cancels the given turn, or every turn still running (sub-agent turns end with their parent). */
  const stop = (turn?: string) => {
    for (const t of turn ? running.filter((r) => r.id === turn) : running) cancel(t.id, "stopped by the customer");
  };
  /** Steer: the text goes to the newest running specialist turn (it reads steers between its steps). */
  const steerTarget = [...running].reverse().find((t) => t.status === "running" && t.agent !== "triage");
  const steerNow = () => {
    const trimmed = text.trim();
    if (!trimmed || !steerTarget) return;
    setText("");
    steer(steerTarget.id, trimmed);
  };
  const askHuman = () => {
    handoff("request", "the customer asked for a human");
    send("I would like to talk to a human, please.");
  };

  return (
    <div className={`app customer ${showTimeline ? "with-timeline" : ""}`}>
      <header>
        <div className="brand">
          <span className="logo">⚡</span> Voltstore support
        </div>
        <ConnectionBadge status={status} transport={transport} position={position} />
        <NotifyButton control={notify} />
        <button
          type="button"
          className="ghost"
          data-testid="timeline-toggle"
          aria-pressed={showTimeline}
          onClick={() => setShowTimeline((v) => !v)}
        >
          {showTimeline ? "Hide" : "Show"} timeline
        </button>
      </header>
      <NotifyNotice control={notify} />
      <PresenceBar members={members} me={user} device={device} />
      {operator && (
        <div className="owner" data-testid="owner">
          {operator.id} from our support team is handling this conversation.
        </div>
      )}
      {error && (
        <div className="error" data-testid="error">
          {error}
        </div>
      )}
      <main>
        <ShopPanel shared={view.shared} writeState={writeState}>
          <ChecklistView shared={view.shared} />
        </ShopPanel>
        <ChatView messages={view.messages} turns={view.fold.turns} me={user} onStop={stop} />
        {showTimeline && <TimelinePanel entries={view.fold.timeline} />}
      </main>
      {view.calls
        .filter((c) => c.kind === "approval")
        .map((c) => (
          <div key={c.call} className="approval" data-testid="approval" data-call={c.call}>
            <span className="action">{c.action}?</span>
            <button type="button" data-testid="approve" onClick={() => approve(c.call, true)}>
              Approve
            </button>
            <button type="button" className="ghost" data-testid="decline" onClick={() => approve(c.call, false)}>
              Decline
            </button>
          </div>
        ))}
      <div className="suggestions">
        {SUGGESTIONS.map((s) => (
          <button key={s} type="button" className="chip" onClick={() => send(s)}>
            {s}
          </button>
        ))}
      </div>
      <form
        className="composer"
        onSubmit={(e) => {
          e.preventDefault();
          send(text);
        }}
      >
        <input
          data-testid="composer-input"
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder="Ask about an order, a return, a product…"
        />
        <button type="submit" data-testid="send">
          Send
        </button>
        <button
          type="button"
          className="ghost"
          data-testid="steer"
          disabled={!steerTarget}
          title="Tell the running agent something while it works"
          onClick={steerNow}
        >
          Steer
        </button>
        <button
          type="button"
          className="stop"
          data-testid="stop"
          disabled={running.length === 0}
          onClick={() => stop()}
        >
          Stop
        </button>
        <button type="button" className="ghost" data-testid="ask-human" onClick={askHuman}>
          Talk to a human
        </button>
      </form>
    </div>
  );
}
