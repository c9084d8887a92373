import { Subjects } from "@threadline/protocol";
import { MemoryStream } from "@threadline/store";
import { describe, expect, it } from "vitest";
import { sessionHistory } from "./session-history.ts";
import { trackStreamEpoch } from "./stream-epoch.ts";

describe("trackStreamEpoch", () => {
  it("follows every stream-state read: a recreated stream changes the current epoch", async () => {
    const stream = new MemoryStream({ epoch: "e1" });
    const tracked = trackStreamEpoch(sessionHistory(stream, new Subjects()), "e1");
    expect(tracked.current()).toBe("e1");
    stream.recreate("e2");
    expect(tracked.current()).toBe("e1"); // not read yet
    expect((await tracked.history.streamState()).epoch).toBe("e2");
    expect(tracked.current()).toBe("e2");
  });
});
