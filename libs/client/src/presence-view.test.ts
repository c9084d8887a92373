import type { PresenceMember, SessionEvent } from "@threadline/protocol";
import { describe, expect, it } from "vitest";
import { PresenceView } from "./presence-view.ts";

const alice = (devices: string[]): PresenceMember => ({
  kind: "user",
  id: "alice",
  status: "active",
  since: 1,
  devices: devices.map((device) => ({ device, status: "active" })) as PresenceMember["devices"],
});

const update = (member: PresenceMember): SessionEvent =>
  ({
    id: `ev-${member.devices?.length}`,
    type: "presence.update",
    from: { kind: "system", id: "presence" },
    ts: 1,
    data: member,
  }) as unknown as SessionEvent;

describe("PresenceView.refresh", () => {
  it("keeps a presence event applied while the snapshot was in flight (the snapshot may be older)", async () => {
    let answer!: (members: PresenceMember[]) => void;
    const view = new PresenceView(
      "s1",
      () => new Promise<PresenceMember[]>((resolve) => (answer = resolve)),
      async () => {},
    );
    const refreshed = view.refresh();
    // Tab b's own device joins while the snapshot (read before it) is on its way.
    view.apply(update(alice(["tab-a", "tab-b"])));
    answer([alice(["tab-a"])]);
    await refreshed;
    expect(view.members.map((m) => m.devices?.map((d) => d.device))).toEqual([["tab-a", "tab-b"]]);
  });

  it("replaces the view with the snapshot when nothing happened meanwhile", async () => {
    const view = new PresenceView(
      "s1",
      async () => [alice(["tab-a"])],
      async () => {},
    );
    view.apply(update(alice(["tab-a", "tab-old"])));
    await view.refresh();
    expect(view.members.map((m) => m.devices?.map((d) => d.device))).toEqual([["tab-a"]]);
  });
});
