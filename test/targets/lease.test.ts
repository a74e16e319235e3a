// A lease must outlive the run that holds it: if it expired while the function still ran (its timeout is set
// in stacks/Reconcilers.ts), a second run could write the same groups at once.
import { describe, expect, it } from "vitest";
import { LEASE_MS } from "../../functions/targets/reconcile.ts";
import { LOOP_TIMEOUTS } from "../../stacks/Reconcilers.ts";

describe("the task-targets lease", () => {
  it("outlasts the function's timeout", () => {
    expect(LEASE_MS).toBeGreaterThan(LOOP_TIMEOUTS.taskTargets * 1000);
  });
});
