import { describe, expect, it } from "vitest";
import { effectiveTheme, nextTheme, readTheme } from "./theme";

describe("theme", () => {
  it("follows the system unless a choice is made", () => {
    expect(effectiveTheme("system", true)).toBe("dark");
    expect(effectiveTheme("system", false)).toBe("light");
    expect(effectiveTheme("light", true)).toBe("light");
    expect(effectiveTheme("dark", false)).toBe("dark");
  });
  it("cycles through the three choices", () => {
    expect(nextTheme("system")).toBe("light");
    expect(nextTheme("light")).toBe("dark");
    expect(nextTheme("dark")).toBe("system");
  });
  it("reads back only known choices", () => {
    expect(readTheme("dark")).toBe("dark");
    expect(readTheme(null)).toBe("system");
    expect(readTheme("purple")).toBe("system");
  });
});
