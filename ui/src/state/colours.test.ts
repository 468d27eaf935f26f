import { describe, expect, it } from "vitest";
import { assignColours, colourOf, NO_TYPE_COLOUR, PALETTE } from "./colours";

describe("cell type colours", () => {
  it("colours sorted types with scanpy's palette, whatever order they come in", () => {
    const a = assignColours({}, ["NK cell", "B cell", "CD4 T cell", "B cell"]);
    expect(a).toEqual({ "B cell": PALETTE[0], "CD4 T cell": PALETTE[1], "NK cell": PALETTE[2] });
    expect(assignColours({}, ["CD4 T cell", "NK cell", "B cell"])).toEqual(a);
  });

  it("keeps a type's colour when other screens show fewer or more types", () => {
    const first = assignColours({}, ["B cell", "Megakaryocyte", "NK cell"]);
    // Compare shows a subset, then a type the map's sample missed.
    const later = assignColours(first, ["NK cell", "Dendritic cell", "B cell"]);
    for (const t of ["B cell", "Megakaryocyte", "NK cell"]) expect(later[t]).toBe(first[t]);
    expect(later["Dendritic cell"]).toBe(PALETTE[3]);
    expect(new Set(Object.values(later)).size).toBe(4);
  });

  it("greys answers that are not a type, and repeats the palette past 20 types", () => {
    const c = assignColours({}, ["Unassigned", "Heterogeneous", "B cell"]);
    expect(Object.keys(c)).toEqual(["B cell"]);
    expect(colourOf(c, "Unassigned")).toBe(NO_TYPE_COLOUR);
    expect(colourOf(c, "B cell")).toBe(PALETTE[0]);
    const many = assignColours({}, Array.from({ length: 25 }, (_, i) => `type ${String(i).padStart(2, "0")}`));
    expect(many["type 00"]).toBe(PALETTE[0]);
    expect(many["type 19"]).toBe(PALETTE[19]);
    expect(many["type 20"]).toBe(PALETTE[0]);
  });
});
