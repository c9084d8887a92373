import type { PresenceMember } from "@threadline/protocol";

/**
 * Who is here: agents (online / thinking), the user's devices (this tab and
 * the others), an operator when present.
 */
export function PresenceBar({ members, me, device }: { members: PresenceMember[]; me: string; device: string }) {
  const sorted = [...members].sort((a, b) => a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id));
  return (
    <div className="presence" data-testid="presence">
      {sorted.map((m) => {
        const devices = m.devices ?? [];
        const thinking = m.status === "thinking";
        let text: string;
        if (m.kind === "user" && m.id === me) {
          const others = devices.filter((d) => d.device !== device).length;
          text = others > 0 ? `You + ${others} other device${others > 1 ? "s" : ""}` : "You";
        } else if (m.kind === "operator") text = `${m.name ?? m.id} (support team)`;
        else text = `${m.name ?? m.id}${thinking ? " · thinking" : ""}`;
        return (
          <span
            key={`${m.kind}.${m.id}`}
            className={`member ${m.kind} ${thinking ? "thinking" : ""}`}
            data-testid="member"
            data-kind={m.kind}
            data-id={m.id}
            data-status={m.status}
            data-devices={devices.length}
          >
            {text}
          </span>
        );
      })}
    </div>
  );
}
