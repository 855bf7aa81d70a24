import { describe, expect, it } from "vitest";

import { durationText, relativeText, utcText } from "./time";

describe("times", () => {
  const now = new Date("2026-12-01T12:00:00Z");

  it("reads relative times in their largest unit", () => {
    expect(relativeText(new Date("2026-12-01T11:59:30Z"), now)).toBe("30 s ago");
    expect(relativeText(new Date("2026-12-01T12:05:00Z"), now)).toBe("in 5 min");
    expect(relativeText(new Date("2026-11-28T12:00:00Z"), now)).toBe("3 d ago");
    expect(relativeText(now, now)).toBe("now");
  });

  it("writes UTC without milliseconds", () => {
    expect(utcText(new Date("2026-12-01T12:00:00.123Z"))).toBe("2026-12-01 12:00:00 UTC");
  });

  it("writes durations for people", () => {
    expect(durationText(0.25)).toBe("250 ms");
    expect(durationText(12.34)).toBe("12.3 s");
    expect(durationText(250)).toBe("4 min 10 s");
    expect(durationText(7300)).toBe("2 h 1 min");
  });
});
