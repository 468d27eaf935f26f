import { describe, expect, it } from "vitest";
import { trappedFocus } from "./focus";

describe("trappedFocus", () => {
  it("wraps Tab from the last element to the first, and Shift+Tab back", () => {
    expect(trappedFocus(3, 2, false)).toBe(0);
    expect(trappedFocus(3, 0, true)).toBe(2);
  });
  it("leaves moves inside the dialog to the browser", () => {
    expect(trappedFocus(3, 0, false)).toBeNull();
    expect(trappedFocus(3, 2, true)).toBeNull();
    expect(trappedFocus(3, 1, false)).toBeNull();
  });
  it("brings a focus from outside back in", () => {
    expect(trappedFocus(3, -1, false)).toBe(0);
    expect(trappedFocus(3, -1, true)).toBe(2);
  });
  it("does nothing in a dialog without controls", () => {
    expect(trappedFocus(0, -1, false)).toBeNull();
  });
  it("keeps a single control focused", () => {
    expect(trappedFocus(1, 0, false)).toBe(0);
    expect(trappedFocus(1, 0, true)).toBe(0);
  });
});
