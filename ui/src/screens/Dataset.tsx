import { matrixWords, numberLocale, storageWords } from "../state/format";
import { useEffect, useMemo, useState } from "react";
import { api, errorText, type CellMap, type Selection } from "../api";
import { barOption, Chart, scatterOption } from "../components/Chart";
import { JobBar } from "../components/JobBar";
import { projectColours } from "../state/colours";
import { labelCandidates, applyFix } from "../state/forms";
import { useLatestJob } from "../state/useLatestJob";
import { useApp } from "../store";
import { resultOf } from "../state/jobs";

export function Dataset() {
  const { opened, convertForm, setConvertForm, go, jobs, state, notify } = useApp();
  const [column, setColumn] = useState<string>("");
  const [method, setMethod] = useState("pca");
  const [maxCells, setMaxCells] = useState(5000);
  const [map, setMap] = useState<CellMap | null>(null);
  // Colour by a gene: what is typed, and the chosen gene's values.
  const [geneText, setGeneText] = useState("");
  const [gene, setGene] = useState<{ name: string; values: number[] } | null>(null);
  // Cells taken in by a lasso on the map, by their index in it.
  const [selected, setSelected] = useState<number[]>([]);
  // Selections saved under a name, and the one the map is coloured by (the
  // map itself stays: its cells are the same).
  const [saved, setSaved] = useState<Selection[]>([]);
  const [shownId, setShownId] = useState<number | null>(null);
  const [selectionName, setSelectionName] = useState("");
  const i = opened!.inspection;
  const projectId = opened!.project.id;
  useEffect(() => {
    api.selections(projectId).then(setSaved).catch(() => {});
  }, [projectId]);
  const shownSelection = saved.find((s) => s.id === shownId);
  const candidates = useMemo(() => labelCandidates(i), [i]);

  useEffect(() => {
    setColumn(convertForm?.labels[0] ?? candidates[0]?.name ?? "");
  }, [opened]);

  // Each map is a background job; a newer request stops the one before.
  const {
    jobId: mapJob,
    error: mapError,
    setError: setMapError,
  } = useLatestJob(
    convertForm ? () => api.startDatasetMap(i.path, convertForm.input, column || null, method, maxCells) : null,
    "map",
    [i.path, column, method, maxCells, convertForm?.input.matrix, convertForm?.input.gene_column],
  );

  const mapJobState = mapJob != null ? jobs[mapJob] : undefined;
  useEffect(() => {
    const drawn = mapJobState?.status === "ok" ? resultOf(mapJobState, "map") : null;
    if (drawn) {
      setMap(drawn);
      setGene(null);
      setSelected([]);
    }
    if (mapJobState?.status === "failed") setMapError(mapJobState.error);
  }, [mapJobState?.status]);

  const col = i.obs_columns.find((c) => c.name === column);
  // Built once per map: a new option object would redraw every point.
  const mapOption = useMemo(() => {
    if (!map) return null;
    // A saved selection: its cells against the rest.
    const inSelection = shownSelection && new Set(shownSelection.cells);
    const labels = inSelection ? map.names.map((n) => (inSelection.has(n) ? shownSelection.name : "other cells")) : map.labels;
    // The column's types in sorted order first (the map's sample may miss a rare one).
    const colours = projectColours(opened?.project.id, inSelection ? "selections" : column || "cells", [...(col?.top_values.map((t) => t[0]) ?? []), ...(labels ?? [])]);
    const what = gene ? `, coloured by ${gene.name}` : "";
    return scatterOption(map.x, map.y, labels, map.axis_names, `${map.method} of ${map.x.length.toLocaleString(numberLocale)} cells${what}`, {
      colours,
      height: 420,
      shade: gene ? { kind: "gene", ...gene } : undefined,
      names: map.names,
      lasso: true,
    });
  }, [map, gene, shownSelection]);
  // Completion: the genes starting with what is typed (then containing it).
  const suggestions = useMemo(() => {
    const t = geneText.trim().toUpperCase();
    if (!map || !t) return [];
    const starts = map.genes.filter((g) => g.startsWith(t));
    const inside = starts.length < 20 ? map.genes.filter((g) => !g.startsWith(t) && g.includes(t)) : [];
    return [...starts, ...inside].slice(0, 20);
  }, [map, geneText]);

  async function saveSelection() {
    if (!map || !selectionName.trim()) return;
    try {
      const s = await api.saveSelection(projectId, selectionName, selected.map((k) => map.names[k]));
      setSaved((all) => [...all.filter((x) => x.id !== s.id), s]);
      setSelectionName("");
      notify(`Saved ${s.cells.length.toLocaleString(numberLocale)} cells as “${s.name}”: colour the map by it here, or ask a published model about it in the chat.`);
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  // "Add to comparison": the cells are saved (under the name typed, else the
  // first free "selected cells N") and Compare puts them beside generated cells.
  async function compareSelection() {
    if (!map) return;
    const taken = new Set(saved.map((x) => x.name));
    let name = selectionName.trim();
    for (let k = 1; !name; k++) if (!taken.has(`selected cells ${k}`)) name = `selected cells ${k}`;
    try {
      const s = await api.saveSelection(projectId, name, selected.map((k) => map.names[k]));
      await api.compareSelection(projectId, s.id, true);
      setSaved((all) => [...all.filter((x) => x.id !== s.id), { ...s, compared: true }]);
      setSelectionName("");
      notify(`Added ${s.cells.length.toLocaleString(numberLocale)} cells to the comparison as “${s.name}”: Compare puts them beside the generated cells.`);
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  async function forgetSelection(s: Selection) {
    try {
      await api.deleteSelection(projectId, s.id);
      setSaved((all) => all.filter((x) => x.id !== s.id));
      if (shownId === s.id) setShownId(null);
    } catch (e) {
      notify(errorText(e), true);
    }
  }

  // The chat answers about the selected cells (it reads this when it opens).
  function askAboutSelection() {
    if (!map) return;
    sessionStorage.setItem("askCells", JSON.stringify({ names: selected.map((i) => map.names[i]) }));
    go("chat");
  }

  async function colourByGene(name: string) {
    if (mapJob == null || !name.trim()) return;
    try {
      const values = await api.mapGeneValues(mapJob, name);
      setGene({ name: name.trim().toUpperCase(), values });
      setMapError(null);
    } catch (e) {
      setMapError(errorText(e));
    }
  }
  return (
    <div className="screen">
      <h2>{opened!.project.name}</h2>
      <div className="cards">
        <div className="stat" data-testid="stat-cells">
          <div className="num">{i.cells.toLocaleString(numberLocale)}</div>cells
        </div>
        <div className="stat">
          <div className="num">{i.genes.toLocaleString(numberLocale)}</div>genes
        </div>
        <div className="stat">
          <div className="num">{i.species}</div>species (from gene names)
        </div>
        <div className="stat">
          <div className="num">{i.matrices.length}</div>expression matrices
        </div>
      </div>
      {i.notes.map((n, k) => (
        <div className="card warning" key={k} data-testid="dataset-warning">
          {n.message}{" "}
          {n.fix && convertForm && (
            <button onClick={() => (setConvertForm(applyFix(convertForm, { gene_column: n.fix!.gene_column })), go("convert"))}>{n.fix.label}</button>
          )}
        </div>
      ))}
      <div className="card">
        <h3>Expression matrices</h3>
        <table>
          <thead>
            <tr>
              <th>Matrix</th>
              <th>Holds</th>
              <th title="How the file keeps the values: sparse matrices keep only the non-zero ones">Storage</th>
              <th>Values stored</th>
            </tr>
          </thead>
          <tbody>
            {i.matrices.map((m) => (
              <tr key={m.name}>
                <td title={`${m.name} in the file (AnnData)`}>
                  {matrixWords(m.name)}
                  {m.name === (convertForm?.input.matrix ?? i.default_matrix) && <span className="tag">used</span>}
                </td>
                <td>{m.description}</td>
                <td title={`${m.storage} ${m.dtype}`}>{storageWords(m.storage, m.dtype)}</td>
                <td>{m.stored_values?.toLocaleString(numberLocale) ?? "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <p className="muted small">
          Gene names: {i.gene_symbol_column ? `column ${i.gene_symbol_column}` : "the file's gene names"}, e.g. {i.example_genes.slice(0, 6).join(", ")}
        </p>
      </div>
      <div className="two">
        <div className="card">
          <h3>Cell annotations</h3>
          <label>
            Column{" "}
            <select
              value={shownId != null ? `selection:${shownId}` : column}
              onChange={(e) => {
                const v = e.target.value;
                if (v.startsWith("selection:")) setShownId(Number(v.slice("selection:".length)));
                else {
                  setShownId(null);
                  setColumn(v);
                }
              }}
              data-testid="label-column"
            >
              <option value="">(none)</option>
              {candidates.map((c) => (
                <option key={c.name} value={c.name}>
                  {c.name} ({c.distinct} values)
                </option>
              ))}
              {saved.length > 0 && (
                <optgroup label="Your saved selections">
                  {saved.map((x) => (
                    <option key={x.id} value={`selection:${x.id}`}>
                      {x.name} ({x.cells.length.toLocaleString(numberLocale)} cells)
                    </option>
                  ))}
                </optgroup>
              )}
            </select>
          </label>
          {col && !shownSelection && (
            <Chart
              name={`counts-${col.name}`}
              option={barOption(
                col.top_values.map((t) => t[0]),
                col.top_values.map((t) => t[1]),
                `Cells per ${col.name}`,
              )}
              height={Math.max(220, 26 * col.top_values.length + 60)}
            />
          )}
        </div>
        <div className="card">
          <h3>Map of the cells</h3>
          <div className="row">
            <label>
              <input type="radio" checked={method === "pca"} onChange={() => setMethod("pca")} /> PCA
            </label>
            <label>
              <input type="radio" checked={method === "umap"} onChange={() => setMethod("umap")} /> UMAP
            </label>
            {i.cells > 5000 && (
              <label>
                Cells shown{" "}
                <select value={maxCells} onChange={(e) => setMaxCells(Number(e.target.value))} data-testid="map-cells">
                  {[5000, 20000, 50000]
                    .filter((n, k) => k === 0 || n / 4 < i.cells)
                    .map((n) => (
                      <option key={n} value={n}>
                        {Math.min(n, i.cells).toLocaleString(numberLocale)}
                      </option>
                    ))}
                </select>
              </label>
            )}
          </div>
          {map && (
            <form
              className="row"
              onSubmit={(e) => {
                e.preventDefault();
                colourByGene(geneText);
              }}
            >
              <label title="Colour each cell by how much it expresses one gene (its normalised log expression), as cellxgene does">
                Colour by gene{" "}
                <input
                  list="map-genes"
                  value={geneText}
                  placeholder="e.g. MS4A1"
                  onChange={(e) => {
                    const v = e.target.value;
                    setGeneText(v);
                    // A whole gene's name (typed or picked from the list) colours at once.
                    if (map.genes.includes(v.trim().toUpperCase())) colourByGene(v);
                  }}
                  data-testid="gene-search"
                  aria-label="Gene to colour the map by"
                />
              </label>
              <datalist id="map-genes">
                {suggestions.map((g) => (
                  <option key={g} value={g} />
                ))}
              </datalist>
              <button type="submit" data-testid="gene-colour">
                Colour
              </button>
              {gene && (
                <button
                  type="button"
                  onClick={() => {
                    setGene(null);
                    setGeneText("");
                  }}
                  data-testid="gene-clear"
                >
                  Back to {column || "cells"}
                </button>
              )}
            </form>
          )}
          {mapJobState?.status === "running" && <JobBar job={mapJobState} testId="job-map" />}
          {mapError && <div className="error-text">{mapError}</div>}
          {map && (
            <Chart
              testId="dataset-map"
              name={`map-${map.method}-${column || "cells"}`}
              option={mapOption}
              height={420}
              onSelect={setSelected}
            />
          )}
          {map && (
            <div className="row" data-testid="selection">
              {selected.length === 0 ? (
                <span className="muted small">Draw around cells on the map to select them.</span>
              ) : (
                <>
                  <span>{selected.length.toLocaleString(numberLocale)} cells selected</span>
                  <button
                    onClick={askAboutSelection}
                    disabled={!state?.datasets.length || !state?.runs.some((r) => r.status === "finished")}
                    title={
                      !state?.datasets.length
                        ? "Turn the cells into sentences and train a model first"
                        : !state?.runs.some((r) => r.status === "finished")
                          ? "Train a model first"
                          : "Ask the chat's model which cell types these are"
                    }
                    data-testid="ask-selection"
                  >
                    What type are these?
                  </button>
                  <form
                    className="row"
                    onSubmit={(e) => {
                      e.preventDefault();
                      saveSelection();
                    }}
                  >
                    <input
                      value={selectionName}
                      onChange={(e) => setSelectionName(e.target.value)}
                      placeholder="a name, e.g. odd cluster"
                      aria-label="Name for the selected cells"
                      data-testid="selection-name"
                    />
                    <button type="submit" disabled={!selectionName.trim()} title="Keep these cells under a name of your own" data-testid="save-selection">
                      Save as a label
                    </button>
                  </form>
                  <button
                    onClick={compareSelection}
                    title="Put these real cells beside the generated ones on Compare, scored as they are (kept under the name typed, or a name of their own)"
                    data-testid="compare-selection"
                  >
                    Add to comparison
                  </button>
                </>
              )}
            </div>
          )}
          {saved.length > 0 && (
            <div className="row small" data-testid="saved-selections">
              <span className="muted">Saved:</span>
              {saved.map((x) => (
                <span key={x.id} className="tag" data-testid={`saved-selection-${x.name}`} data-cells={x.cells.length}>
                  <a href="#" onClick={(e) => (e.preventDefault(), setShownId(x.id))} title="Colour the map by this selection">
                    {x.name} ({x.cells.length.toLocaleString(numberLocale)})
                  </a>
                  {x.compared && (
                    <span className="muted" title="Compare puts these cells beside the generated ones" data-testid={`compared-${x.name}`}>
                      {" "}
                      · in the comparison
                    </span>
                  )}{" "}
                  <button className="link" onClick={() => forgetSelection(x)} aria-label={`Forget ${x.name}`} title="Forget this selection">
                    ✕
                  </button>
                </span>
              ))}
            </div>
          )}
        </div>
      </div>
      <div className="row">
        <button className="primary" onClick={() => go("convert")} data-testid="to-convert">
          Turn cells into sentences →
        </button>
      </div>
    </div>
  );
}
