// The pure bounds that keep user-built inputs within AWS's documented limits.
// CodeCommit API reference: CommentContentSizeLimitExceededException, "Comments are limited to 10,240 characters".
// EventBridge user guide, "Calculating PutEvents event entry size": Source + DetailType + Detail bytes, under 256 KB.
import { describe, expect, it } from "vitest";
import {
  boundedComment, clip, COMMENT_LIMIT, eventEntrySize, FAILED_PER_SERVICE, fitEventDetail, lineCount, rememberFailure,
} from "../../functions/rollout/limits.ts";

describe("boundedComment", () => {
  it("keeps every item when they fit, without a \"more\" line", () => {
    expect(boundedComment({ head: ["head", ""], items: ["- a", "- b"], whereTheRestIs: "see the log." })).toBe("head\n\n- a\n- b");
  });

  it("cuts at the limit and says how many were left out and where they are", () => {
    const items = Array.from({ length: 10 }, (_, i) => `- item ${i} ${"x".repeat(20)}`);
    const text = boundedComment({ head: ["head"], items, whereTheRestIs: "see the log." }, 120);
    expect(text.length).toBeLessThanOrEqual(120);
    expect(text).toBe(`head\n${items[0]}\n${items[1]}\n${items[2]}\n…and 7 more: see the log.`);
  });

  it("a single huge item is clipped so the others still get room", () => {
    const text = boundedComment({ head: ["h"], items: ["x".repeat(50_000), "- second"], whereTheRestIs: "log." });
    expect(text.length).toBeLessThanOrEqual(COMMENT_LIMIT);
    expect(text.endsWith("…\n- second")).toBe(true);
  });

  it("a tail stays after the list", () => {
    const text = boundedComment({ head: ["h"], items: ["- a", "- b", "- c"], tail: ["tail"], whereTheRestIs: "log." }, 30);
    expect(text).toBe("h\n- a\n…and 2 more: log.\n\ntail");
  });
});

describe("clip", () => {
  it("never splits a surrogate pair", () => {
    expect(clip("ab😀cd", 4)).toBe("ab…");
    expect(clip("short", 10)).toBe("short");
  });
});

describe("fitEventDetail", () => {
  it("leaves a detail that fits as it is", () => {
    const detail = { commit: "c", errors: ["a", "b"] };
    expect(fitEventDetail(detail, "errors")).toBe(detail);
  });

  it("keeps the longest prefix that fits and counts the rest", () => {
    const errors = Array.from({ length: 100 }, (_, i) => `e${String(i).padStart(2, "0")}${"x".repeat(95)}`);
    const fitted = fitEventDetail({ commit: "c", errors }, "errors", 2_000) as { errors: string[]; errorsTotal: number; errorsOmitted: number };
    expect(JSON.stringify(fitted).length).toBeLessThanOrEqual(2_000);
    expect(fitted.errors).toEqual(errors.slice(0, fitted.errors.length));
    expect(fitted.errorsTotal).toBe(100);
    expect(fitted.errorsOmitted).toBe(100 - fitted.errors.length);
    // One more would not fit.
    const oneMore = { ...fitted, errors: errors.slice(0, fitted.errors.length + 1), errorsOmitted: fitted.errorsOmitted - 1 };
    expect(JSON.stringify(oneMore).length).toBeGreaterThan(2_000);
  });

  it("counts UTF-8 bytes, as EventBridge does", () => {
    expect(eventEntrySize("proxy-fleet", "Config Rejected", { e: "é" })).toBe(11 + 15 + Buffer.byteLength('{"e":"é"}'));
  });
});

describe("lineCount", () => {
  it("counts the lines a review shows", () => {
    expect([lineCount(""), lineCount("a"), lineCount("a\n"), lineCount("a\nb"), lineCount("a\n\n")]).toEqual([0, 1, 1, 2, 2]);
  });
});

// DynamoDB quotas: an item is at most 400 KB; the rollout state is one item, so its failed lists are bounded.
describe("rememberFailure", () => {
  it("keeps the most recent failures, each once, up to the bound", () => {
    let failed: string[] = [];
    for (let i = 0; i < 100; i++) failed = rememberFailure(failed, `sha256:${i}`);
    expect(failed).toHaveLength(FAILED_PER_SERVICE);
    expect(failed.at(-1)).toBe("sha256:99");
    expect(failed[0]).toBe(`sha256:${100 - FAILED_PER_SERVICE}`);
    expect(rememberFailure(["a", "b"], "a")).toEqual(["b", "a"]);
  });
});
