import { useApp, type Screen } from "../store";

/** What each screen is for, in the order a first project goes through them. */
const SCREENS: { id: Screen; name: string; what: string }[] = [
  { id: "home", name: "Home", what: "Open an .h5ad file (or drop it on the window), or try the demo dataset of 2,638 blood cells." },
  {
    id: "dataset",
    name: "Dataset",
    what: "What the file holds: cells, genes, the label columns, a map of the cells. Colour the map by a gene or a label, and draw around cells to select them.",
  },
  { id: "convert", name: "Convert", what: "Turn every cell into a cell sentence and set cells aside for testing. Nothing in your file is changed." },
  {
    id: "models",
    name: "Models",
    what: "The models the Cell2Sentence team published, trained on millions of cells: download one, or use one from a folder. They name cell types without any training here.",
  },
  { id: "train", name: "Train", what: "Teach a model your own labelled cells. The recommended setting fits in about 20 minutes on this computer." },
  { id: "chat", name: "Chat", what: "Ask the model which type a cell is, or have it write new cells of a type you choose." },
  { id: "annotate", name: "Annotate", what: "Name the type of every cell, see how often the model is right, and save the answers into a copy of your .h5ad file." },
  { id: "compare", name: "Compare", what: "Put generated cells beside real ones, and the model's answers beside a simple baseline, in one report." },
];

/** The numbers the app shows, in plain words. */
const NUMBERS: { term: string; meaning: string }[] = [
  {
    term: "Held-out (test) cells",
    meaning:
      "Cells set aside at conversion that the model never learned from. Every figure about a model is measured on them only, so it says how the model does on cells it has not seen.",
  },
  { term: "Accuracy", meaning: "The share of held-out cells whose type the model names right." },
  {
    term: "Macro F1",
    meaning: "Accuracy averaged over the cell types, each type counting once: it drops when a rare type is missed, even if common types are right.",
  },
  {
    term: "k-NN baseline",
    meaning:
      "A simple method to beat: each held-out cell takes the commonest type among its most similar training cells by gene expression. A model worth using names types at least as well.",
  },
  {
    term: "Confidence",
    meaning: "How sure the model is of its answer, from 0 to 100 %. Answers below a threshold you choose can be left Unassigned, as CellTypist does.",
  },
  {
    term: "Majority voting",
    meaning: "Cells are grouped into many small clusters of similar cells, and each cluster takes its commonest answer, as in CellTypist.",
  },
  {
    term: "Generated cells look like their type",
    meaning:
      "For each generated cell, the commonest type among its nearest real cells: how often that is the type asked for. Real cells set the ceiling; cells with shuffled labels set the chance level.",
  },
  {
    term: "Distance to real cells (Gromov-Wasserstein)",
    meaning: "How differently generated cells are arranged from real ones: 0 is alike; random genes give the value to stay well below.",
  },
  { term: "Pearson r", meaning: "How closely two lists of values rise and fall together, from -1 to 1; 1 is a perfect match." },
];

/** A short guide: what a cell sentence is, what each screen does, what the numbers mean. */
export function Help() {
  const { go, project, state } = useApp();
  const open = (s: Screen) =>
    s === "home" || s === "models" || (project && (s === "dataset" || s === "convert")) || (project && !!state?.datasets.length);
  return (
    <div className="screen help" data-testid="help">
      <h1>Help</h1>
      <div className="card">
        <h2>What is a cell sentence?</h2>
        <p>
          A cell's genes written as words, the most expressed first, for example <span className="mono">MALAT1 TMSB4X B2M CD74 …</span>. Genes the cell does not
          express are left out. A language model that reads many such sentences learns which genes go together in each cell type: it can then name the type of a
          new cell, or write a cell of a type you ask for. Written back as numbers, generated cells can be compared with real ones.
        </p>
        <p className="small muted">
          This is the method of Cell2Sentence (Levine et al., "Cell2Sentence: Teaching Large Language Models the Language of Biology", 2024).
        </p>
      </div>
      <div className="card">
        <h2>What each screen does</h2>
        <table>
          <tbody>
            {SCREENS.map((s) => (
              <tr key={s.id}>
                <th scope="row">
                  {open(s.id) ? (
                    <button className="link" onClick={() => go(s.id)}>
                      {s.name}
                    </button>
                  ) : (
                    s.name
                  )}
                </th>
                <td>{s.what}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="card">
        <h2>What the numbers mean</h2>
        <dl className="terms">
          {NUMBERS.map((n) => (
            <div key={n.term}>
              <dt>{n.term}</dt>
              <dd>{n.meaning}</dd>
            </div>
          ))}
        </dl>
      </div>
      <div className="card">
        <h2>Where your work is kept</h2>
        <p>
          Each dataset you open becomes a project with its own folder (shown in About). Converted sentences, trained models, generated cells, answers and reports
          are saved there; your original file is never changed. Downloaded models are kept in the Hugging Face cache, so other tools can use them too.
        </p>
      </div>
    </div>
  );
}
