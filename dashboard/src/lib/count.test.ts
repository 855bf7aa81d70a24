import { describe, expect, it } from "vitest";

import { countText, matchText } from "./count";

describe("job counts", () => {
  it("writes an exact count in full", () => {
    expect(countText({ value: 0, exact: true })).toBe("0");
    expect(countText({ value: 9999, exact: true })).toBe("9,999");
  });

  it("rounds an estimate and marks it", () => {
    expect(countText({ value: 12_345, exact: false })).toBe("~12k");
    expect(countText({ value: 1_203_117, exact: false })).toBe("~1.2M");
    expect(countText({ value: 2_000_000, exact: false })).toBe("~2M");
    expect(countText({ value: 34_567_890, exact: false })).toBe("~35M");
    expect(countText({ value: 999_999, exact: false })).toBe("~1M");
    expect(countText({ value: 123_456, exact: false })).toBe("~120k");
  });

  it("says how many match", () => {
    expect(matchText({ value: 1, exact: true })).toBe("1 job matches");
    expect(matchText({ value: 3, exact: true })).toBe("3 jobs match");
    expect(matchText({ value: 1_200_000, exact: false })).toBe("~1.2M jobs match");
  });
});
