import { describe, expect, it } from "vitest";
import { customerPath, readCustomerUrl } from "./customer-url.ts";

describe("customer URLs", () => {
  it.each([
    ["support-1", "customer", "/?session=support-1"],
    ["support-1", "alice", "/?session=support-1&user=alice"],
  ])("customerPath(%s, %s) = %s", (session, user, path) => {
    expect(customerPath(session, user)).toBe(path);
  });

  it.each([
    ["/?session=s1&user=alice", { session: "s1", user: "alice" }],
    ["/?session=s1", { session: "s1", user: "customer" }],
    ["/", { session: undefined, user: "customer" }],
    ["/operator?session=s1", undefined],
  ])("readCustomerUrl(%s)", (path, read) => {
    expect(readCustomerUrl(new URL(path, "http://127.0.0.1:5173"))).toEqual(read);
  });

  it("reads back what it writes", () => {
    const url = new URL(customerPath("s-2", "bob"), "http://127.0.0.1:5173");
    expect(readCustomerUrl(url)).toEqual({ session: "s-2", user: "bob" });
  });
});
