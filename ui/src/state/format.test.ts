import { describe, expect, it } from "vitest";
import { numberLocale } from "./format";

describe("numbers", () => {
  it("are written with thousands separators, even where the system's locale has none", () => {
    expect((13714).toLocaleString(numberLocale)).toMatch(/^13\D714$/);
  });
});
