import { describe, expect, it } from "vitest";
import type { Jsz } from "./monitor.ts";
import { leftOutOfMetaGroup } from "./nats-cluster.ts";

// Pure: the leader views are the /jsz meta_cluster of real starts of nats-server 2.10.27 (node names shortened).
const view = (meta: Jsz["meta_cluster"]): Jsz => ({
  server_id: "S",
  streams: 0,
  consumers: 0,
  messages: 0,
  meta_cluster: meta,
});
const nodes = ["n1", "n2", "n3"];

describe("leftOutOfMetaGroup (pure)", () => {
  it("names the node a cold start's meta group left out (cluster_size 2, not among the leader's replicas)", () => {
    const stuck = view({
      name: "c",
      leader: "n1",
      replicas: [{ name: "n3", current: true, active: 91_836_504, peer: "QHnOqqay" }],
      cluster_size: 2,
    });
    expect(leftOutOfMetaGroup("n1", stuck, nodes)).toEqual(["n2"]);
  });

  it("is empty once the group counts every node, whether or not the followers are current yet", () => {
    const whole = view({
      name: "c",
      leader: "n2",
      replicas: [
        { name: "n1", current: false, active: 0 },
        { name: "n3", current: true, active: 1 },
      ],
      cluster_size: 3,
    });
    expect(leftOutOfMetaGroup("n2", whole, nodes)).toEqual([]);
    // A fresh leader that has not listed its followers yet but expects all three (the bootstrap size).
    expect(leftOutOfMetaGroup("n2", view({ name: "c", leader: "n2", cluster_size: 3 }), nodes)).toEqual([]);
  });

  it("counts a group that is still growing as incomplete (the caller waits a little before it gives up)", () => {
    const growing = view({
      name: "c",
      leader: "n1",
      replicas: [{ name: "n2", current: true, active: 1 }],
      cluster_size: 2,
    });
    expect(leftOutOfMetaGroup("n1", growing, nodes)).toEqual(["n3"]);
    expect(leftOutOfMetaGroup("n1", view(undefined), nodes)).toEqual(["n2", "n3"]);
  });
});
