import type { StateObject } from "@threadline/protocol";
import { asChecklist, CHECKLIST_OBJECT } from "../shop-state.ts";

/**
 * The order agent's checklist (the shared `agent-checklist` object), live:
 * every device of the customer and the operator console render the same
 * object, re-rendered on each change the agent makes. Nothing while no
 * purchase ran in the session.
 */
export function ChecklistView({ shared }: { shared: Readonly<Record<string, StateObject>> }) {
  const checklist = asChecklist(shared[CHECKLIST_OBJECT]?.value);
  if (!checklist) return null;
  return (
    <section
      className={`checklist ${checklist.status}`}
      data-testid="checklist"
      data-turn={checklist.turn}
      data-status={checklist.status}
    >
      <div className="checklist-head">
        <span className="title">{checklist.title}</span>
        <span className="checklist-status">{checklist.status}</span>
      </div>
      <ol>
        {checklist.items.map((item) => (
          <li
            key={item.id}
            className={`step ${item.status}`}
            data-testid="checklist-item"
            data-item={item.id}
            data-status={item.status}
          >
            <span className="step-dot" />
            <span className="label">{item.label}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
