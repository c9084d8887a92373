import type { JsonValue, StateHandle } from "@threadline/agent";
import {
  asChecklist,
  CHECKLIST_OBJECT,
  type ChecklistItem,
  type ChecklistState,
  type ChecklistStatus,
} from "../shop-state.ts";
import type { TurnContext } from "./pool.ts";

/**
 * An agent's checklist shared live with every device and the operator
 * console: the `agent-checklist` state object (../shop-state.ts), written
 * by this turn. It holds the latest purchase only: a new purchase replaces
 * it, and an older turn still running stops writing to it (its own
 * progress events still tell its story), so two purchases never mix their
 * steps. Every write is one op at a path, so the pages re-render one step
 * at a time.
 */
export class Checklist {
  private constructor(
    private readonly handle: StateHandle<JsonValue>,
    private readonly turn: string,
    private readonly ids: string[],
  ) {}

  /** Publishes a fresh checklist for this turn: every item `pending`, the list `running`. */
  static async start(
    ctx: Pick<TurnContext, "state" | "turn">,
    title: string,
    items: readonly { id: string; label: string }[],
  ): Promise<Checklist> {
    const handle = await ctx.state(CHECKLIST_OBJECT);
    const value: ChecklistState = {
      turn: ctx.turn,
      title,
      status: "running",
      items: items.map((i): ChecklistItem => ({ id: i.id, label: i.label, status: "pending" })),
    };
    await handle.set([], value as unknown as JsonValue);
    return new Checklist(
      handle,
      ctx.turn,
      items.map((i) => i.id),
    );
  }

  /** Sets one item's status (items this checklist does not list are ignored). */
  async mark(id: string, status: ChecklistStatus): Promise<void> {
    const index = this.ids.indexOf(id);
    if (index < 0 || !this.current()) return;
    await this.handle.set(["items", index, "status"], status);
  }

  /** Ends the list: `done`, or `failed` / `cancelled` with the items still pending or running marked skipped. */
  async finish(status: ChecklistState["status"]): Promise<void> {
    const value = this.current();
    if (!value) return;
    if (status !== "done") {
      for (const [index, item] of value.items.entries()) {
        if (item.status === "pending" || item.status === "running") {
          await this.handle.set(["items", index, "status"], "skipped");
        }
      }
    }
    await this.handle.set(["status"], status);
  }

  /** The object while it is still this turn's checklist. */
  private current(): ChecklistState | undefined {
    const value = asChecklist(this.handle.get());
    return value?.turn === this.turn ? value : undefined;
  }
}
