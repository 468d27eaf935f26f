import { describe, expect, it } from "vitest";
import { chatReducer, emptyChat, groupText, KEPT_MESSAGES, markerEvidence, markerNote, notUnderstood, parseRequest, predictionText, toSave } from "./chat";

describe("chatReducer", () => {
  it("streams a generation into one message and then shows its cells", () => {
    let c = chatReducer(emptyChat, { type: "user", text: "Generate 2 cells of type B cells" });
    c = chatReducer(c, { type: "generating", jobId: 4, text: "Writing 2 B cells…" });
    c = chatReducer(c, { type: "text", jobId: 4, cell: 0, text: "CD74" });
    c = chatReducer(c, { type: "text", jobId: 4, cell: 0, text: "CD74 HLA-DRA" });
    c = chatReducer(c, { type: "text", jobId: 4, cell: 1, text: "MS4A1" });
    expect(c.messages[1].streaming).toEqual({ 0: "CD74 HLA-DRA", 1: "MS4A1" });
    const cells = [{ cell_name: "g0", cell_type: "B cells", cell_sentence: "CD74 HLA-DRA", words: [] }];
    c = chatReducer(c, { type: "generated", jobId: 4, result: { cells, valid_share: 1, unique_share: 1, constrained: true } });
    expect(c.messages[1].cells).toEqual(cells);
    expect(c.messages[1].streaming).toBeUndefined();
    // Text arriving late does not reopen a finished message.
    const late = chatReducer(c, { type: "text", jobId: 4, cell: 0, text: "X" });
    expect(late.messages[1].streaming).toBeUndefined();
    c = chatReducer(c, { type: "added", id: c.messages[1].id });
    expect(c.messages[1].added).toBe(true);
    expect(new Set(c.messages.map((m) => m.id)).size).toBe(c.messages.length);
  });

  it("words a prediction and a stop", () => {
    let c = chatReducer(emptyChat, {
      type: "prediction",
      result: { label: "NK cells", confidence: 0.8123, ranking: [["NK cells", 0.8123]], unknown_genes: [] },
      asked: 3,
    });
    expect(c.messages[0].text).toContain("NK cells");
    expect(c.messages[0].text).toContain("81.2 %");
    c = chatReducer(c, { type: "generating", jobId: 9, text: "Writing" });
    c = chatReducer(c, { type: "stopped", jobId: 9, error: null });
    expect(c.messages[1].text).toBe("Writing — stopped");
    // Free text ends with the model's whole answer in place of the stream.
    c = chatReducer(c, { type: "generating", jobId: 10, text: "" });
    c = chatReducer(c, { type: "text", jobId: 10, cell: 0, text: "The cell" });
    c = chatReducer(c, { type: "stopped", jobId: 10, error: null, text: "The cell is a T cell." });
    expect(c.messages[2].text).toBe("The cell is a T cell.");
    expect(c.messages[2].streaming).toBeUndefined();
  });
});

describe("predictions in words that match the evidence", () => {
  const ranked = (ranking: [string, number][], unknown: string[] = []) => ({
    label: ranking[0][0],
    confidence: ranking[0][1],
    ranking,
    unknown_genes: unknown,
  });
  it("says so when it knows none of the words, instead of naming a type", () => {
    const c = chatReducer(emptyChat, { type: "prediction", result: ranked([["CD4 T cell", 0.976]], ["MAKE", "5", "B", "CELLS"]), asked: 4 });
    expect(c.messages[0].role).toBe("error");
    expect(c.messages[0].text).toContain("None of these words");
    expect(c.messages[0].text).not.toContain("CD4 T cell");
  });
  it("hedges a close call and names the runner-up", () => {
    const close = predictionText(ranked([["B cell", 0.348], ["CD4 T cell", 0.294]]), 20);
    expect(close).toMatch(/^Not sure: most like a B cell \(34.8 %\), or a CD4 T cell \(29.4 %\)/);
    const clear = predictionText(ranked([["B cell", 0.9], ["CD4 T cell", 0.05]], ["FOO"]), 20);
    expect(clear).toMatch(/^This looks like a B cell/);
    expect(clear).toContain("1 of the 20 words are not genes it knows");
  });
  it("names the model that gave each reply", () => {
    let c = chatReducer(emptyChat, { type: "generating", jobId: 7, text: "Writing 3 cells", model: "Run 2 (quick)" });
    c = chatReducer(c, { type: "prediction", result: ranked([["B cell", 0.9]]), asked: 20, model: "C2S-Pythia-410m cell type prediction" });
    expect(c.messages.map((m) => m.model)).toEqual(["Run 2 (quick)", "C2S-Pythia-410m cell type prediction"]);
  });
  it("says what the dataset calls a picked cell, and whether the model agrees", () => {
    const right = chatReducer(emptyChat, { type: "prediction", result: ranked([["B cell", 0.9], ["NK cell", 0.05]]), asked: 20, truth: "B cell" });
    expect(right.messages[0].text).toMatch(/The dataset labels this cell B cell: the model is right\.$/);
    const wrong = predictionText(ranked([["B cell", 0.348], ["CD4 T cell", 0.294]]), 20, "CD4 T cell");
    expect(wrong).toMatch(/^Not sure: .*The dataset labels this cell CD4 T cell: the model is wrong\.$/);
    expect(predictionText(ranked([["B cell", 0.9]]), 20)).not.toContain("dataset");
  });
});

describe("notUnderstood", () => {
  it("says so plainly, with what to try, and why when the words are not genes", () => {
    expect(notUnderstood(["B cell"])).toBe("I did not understand that. Try “generate 10 cells of type B cell”, or a list of genes (most expressed first) to name its type.");
    expect(notUnderstood(["B cell"], { words: 5, known: 1 })).toMatch(/^I did not understand that: 1 of the 5 words it read are genes this model knows\. Try /);
  });
});

describe("parseRequest", () => {
  const types = ["B cells", "CD14+ Monocytes"];
  it("understands generation requests", () => {
    expect(parseRequest("generate 5 cells of type b cells", types)).toEqual({ kind: "generate", n: 5, cellType: "B cells" });
    expect(parseRequest("Generate 3 cells", types)).toEqual({ kind: "generate", n: 3, cellType: null });
    expect(parseRequest("generate 3 cells of type Neurons", types)).toEqual({ kind: "unknown-type", asked: "Neurons" });
  });
  it("reads the ways people ask, and never takes a request for a gene list", () => {
    const pbmc = ["B cell", "NK cell", "CD14+ Monocyte"];
    expect(parseRequest("make 5 b cells", pbmc)).toEqual({ kind: "generate", n: 5, cellType: "B cell" });
    expect(parseRequest("Make 2 NK cells.", pbmc)).toEqual({ kind: "generate", n: 2, cellType: "NK cell" });
    expect(parseRequest("write 3 cd14+ monocytes", pbmc)).toEqual({ kind: "generate", n: 3, cellType: "CD14+ Monocyte" });
    expect(parseRequest("give me 4 new cells", pbmc)).toEqual({ kind: "generate", n: 4, cellType: null });
    expect(parseRequest("make 5 neurons", pbmc)).toEqual({ kind: "unknown-type", asked: "neurons" });
  });
  it("takes a pasted gene list as a question about a cell", () => {
    expect(parseRequest("CD3D, IL7R LTB", types)).toEqual({ kind: "predict", sentence: "CD3D IL7R LTB" });
    expect(parseRequest("hello there", types)).toBeNull();
  });
  it("passes English to a model that keeps it, but still reads gene lists", () => {
    expect(parseRequest("The cell type of this cell is", types, true)).toBeNull();
    expect(parseRequest("CD3D IL7R LTB", types, true)).toEqual({ kind: "predict", sentence: "CD3D IL7R LTB" });
    expect(parseRequest("The cell type of this cell is", types)).toEqual({ kind: "predict", sentence: "The cell type of this cell is" });
  });
});

describe("a project's chat across restarts", () => {
  it("comes back as saved, and a reply cut off by the app closing says so", () => {
    let c = chatReducer(emptyChat, { type: "user", text: "Generate 3 cells" });
    c = chatReducer(c, { type: "generating", jobId: 4, text: "Writing 3 cells", model: "Run 1 (quick)" });
    c = chatReducer(c, { type: "text", jobId: 4, cell: 0, text: "CD3D CD8A" });
    const saved = JSON.parse(JSON.stringify(toSave(c)));
    expect(saved.messages[1].streaming).toBeUndefined();
    const back = chatReducer(emptyChat, { type: "restore", chat: saved });
    expect(back.messages.map((m) => m.text)).toEqual(["Generate 3 cells", "Writing 3 cells (stopped: the app was closed)"]);
    expect(back.messages[1].done).toBe(true);
    expect(back.messages[1].jobId).toBeUndefined();
    // New messages take new ids.
    const more = chatReducer(back, { type: "user", text: "again" });
    expect(new Set(more.messages.map((m) => m.id)).size).toBe(3);
    expect(chatReducer(c, { type: "restore", chat: null })).toEqual(emptyChat);
  });
  it("keeps the last messages only", () => {
    let c = emptyChat;
    for (let i = 0; i < KEPT_MESSAGES + 10; i++) c = chatReducer(c, { type: "user", text: `m${i}` });
    const s = toSave(c);
    expect(s.messages.length).toBe(KEPT_MESSAGES);
    expect(s.messages[0].text).toBe("m10");
  });
});

describe("a group of cells in words", () => {
  it("names the commonest type with its share, then the others", () => {
    expect(groupText({ asked: 40, found: 40, scored: 40, types: [["B cell", 36], ["NK cell", 4]] })).toBe(
      "Mostly B cell: the model calls 36 of 40 cells (90 %) B cell. Then NK cell 4 (10 %).",
    );
    expect(groupText({ asked: 10, found: 10, scored: 10, types: [["B cell", 5], ["NK cell", 3], ["Monocyte", 2]] })).toBe(
      "A mix: the model calls 5 of 10 cells (50 %) B cell. Then NK cell 3 (30 %), Monocyte 2 (20 %).",
    );
    expect(groupText({ asked: 3, found: 3, scored: 3, types: [["B cell", 3]] })).toBe("The model calls all 3 of these cells B cell.");
  });
  it("says which cells were not asked about", () => {
    expect(groupText({ asked: 300, found: 250, scored: 100, types: [["B cell", 100]] })).toBe(
      "The model calls all 100 of these cells B cell. 50 of the 300 selected cells were filtered out at conversion. Asked about an even spread of 100 of the 250 cells.",
    );
    const none = chatReducer(emptyChat, { type: "group", call: { asked: 5, found: 0, scored: 0, types: [] } });
    expect(none.messages[0].role).toBe("error");
    expect(none.messages[0].text).toMatch(/filtered out/);
  });
});

describe("marker genes in generated cells", () => {
  const markers = { "B cell": [{ gene: "MS4A1", share_in: 0.92, share_out: 0.031 }] };
  it("notes a marker of the cell's type, with its shares", () => {
    expect(markerNote("MS4A1", "B cell", markers)).toBe("a marker of B cell in your data: among the top 100 genes of 92 % of its cells and 3 % of other cells");
  });
  it("notes nothing for another type's cell, a cell of no type or another gene", () => {
    expect(markerNote("MS4A1", "T cell", markers)).toBeNull();
    expect(markerNote("MS4A1", null, markers)).toBeNull();
    expect(markerNote("CD3E", "B cell", markers)).toBeNull();
  });
});

describe("marker evidence for an answer", () => {
  const markers = {
    "B cell": [
      { gene: "CD74", share_in: 1, share_out: 0.28 },
      { gene: "HLA-DRA", share_in: 0.99, share_out: 0.2 },
      { gene: "CD37", share_in: 0.71, share_out: 0.05 },
    ],
  };
  it("lists the answered type's markers the cell holds, in the cell's order", () => {
    expect(markerEvidence(["RPL10", "hla-dra", "B2M", "CD74"], "B cell", markers)).toBe(
      "Marker genes of B cell in your data that this cell holds: HLA-DRA, CD74 (2 of 3).",
    );
  });
  it("says when it holds none, and nothing without markers or genes", () => {
    expect(markerEvidence(["RPL10", "B2M"], "B cell", markers)).toBe("This cell holds none of the 3 marker genes of B cell in your data among its first 2 genes.");
    expect(markerEvidence(["CD74"], "NK cell", markers)).toBeNull();
    expect(markerEvidence(undefined, "B cell", markers)).toBeNull();
  });
});
