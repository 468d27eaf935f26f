import { describe, expect, it } from "vitest";
import { matrixWords, numberLocale, storageWords } from "./format";

describe("numbers", () => {
  it("are written with thousands separators, even where the system's locale has none", () => {
    expect((13714).toLocaleString(numberLocale)).toMatch(/^13\D714$/);
  });
});

describe("matrices in plain words", () => {
  it("names X the main matrix and the others layers", () => {
    expect(matrixWords("X")).toBe("main matrix");
    expect(matrixWords("layer:counts")).toBe("layer “counts”");
    expect(matrixWords("raw")).toBe("raw copy");
  });
  it("says how values are stored without csr or float32", () => {
    expect(storageWords("csr", "float32")).toBe("sparse, by cell; decimal numbers");
    expect(storageWords("csc", "int64")).toBe("sparse, by gene; whole numbers");
    expect(storageWords("dense", "float64")).toBe("every value kept; decimal numbers");
    expect(storageWords("dense", "uint16")).toBe("every value kept; whole numbers");
  });
});
