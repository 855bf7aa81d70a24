import { describe, expect, it } from "vitest";

import { stepPath } from "./ReplicaChart";

describe("stepPath", () => {
  it("holds each value until the next point, then steps", () => {
    expect(stepPath([{ x: 0, y: 10 }, { x: 5, y: 2 }, { x: 9, y: 2 }])).toBe("M0.0,10.0 H5.0 V2.0 H9.0 V2.0");
  });

  it("draws nothing without points", () => {
    expect(stepPath([])).toBe("");
  });
});
