// The rollout's overlap helpers: a call started early fails where it is awaited, and a group of calls fails
// only after every one of them ended.
import { describe, expect, it } from "vitest";
import { early, settleAll } from "../../functions/rollout/shared-steps.ts";

const after = <T>(ms: number, value: T, fail = false) =>
  new Promise<T>((resolve, reject) => setTimeout(() => (fail ? reject(new Error(String(value))) : resolve(value)), ms));

describe("early", () => {
  it("hands back the started call's value, as often as asked", async () => {
    const value = early(after(5, "head"));
    expect(await value()).toBe("head");
    expect(await value()).toBe("head");
  });

  it("a failure before anyone awaits is no unhandled rejection; it surfaces where the value is awaited", async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", record);
    try {
      const value = early(Promise.reject(new Error("GetCommit refused")));
      await after(20, undefined); // several turns of the event loop with the failure pending
      await expect(value()).rejects.toThrow("GetCommit refused");
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", record);
    }
  });
});

describe("settleAll", () => {
  it("waits for every call, then fails with the first failure", async () => {
    const ended: string[] = [];
    const call = (name: string, ms: number, fail = false) => after(ms, name, fail).finally(() => ended.push(name));
    await expect(settleAll([call("comment", 30), call("event", 1, true), call("other", 10, true)])).rejects.toThrow("event");
    expect(ended.sort()).toEqual(["comment", "event", "other"]);
  });

  it("resolves when every call succeeds", async () => {
    await expect(settleAll([after(1, 1), after(2, 2)])).resolves.toBeUndefined();
  });
});
