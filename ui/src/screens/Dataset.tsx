import { useEffect, useMemo, useState } from "react";
import { api, errorText, type CellMap } from "../api";
import { barOption, Chart, scatterOption } from "../components/Chart";
import { labelCandidates, applyFix } from "../state/forms";
import { useApp } from "../store";

export function Dataset() {
  const { opened, convertForm, setConvertForm, go } = useApp();
  const [column, setColumn] = useState<string>("");
  const [method, setMethod] = useState("pca");
  const [map, setMap] = useState<CellMap | null>(null);
  const [mapError, setMapError] = useState<string | null>(null);
  const [drawing, setDrawing] = useState(false);
  const i = opened!.inspection;
  const candidates = useMemo(() => labelCandidates(i), [i]);

  useEffect(() => {
    setColumn(convertForm?.labels[0] ?? candidates[0]?.name ?? "");
  }, [opened]);

  useEffect(() => {
    if (!convertForm) return;
    let stale = false;
    setDrawing(true);
    setMapError(null);
    api
      .datasetMap(i.path, convertForm.input, column || null, method)
      .then((m) => !stale && setMap(m))
      .catch((e) => !stale && setMapError(errorText(e)))
      .finally(() => !stale && setDrawing(false));
    return () => {
      stale = true;
    };
  }, [i.path, column, method, convertForm?.input.matrix, convertForm?.input.gene_column]);

  const col = i.obs_columns.find((c) => c.name === column);
  return (
    <div className="screen">
      <h2>{opened!.project.name}</h2>
      <div className="cards">
        <div className="stat" data-testid="stat-cells">
          <div className="num">{i.cells.toLocaleString()}</div>cells
        </div>
        <div className="stat">
          <div className="num">{i.genes.toLocaleString()}</div>genes
        </div>
        <div className="stat">
          <div className="num">{i.species}</div>species (from gene names)
        </div>
        <div className="stat">
          <div className="num">{i.matrices.length}</div>expression matrices
        </div>
      </div>
      {opened!.warnings.map((w, k) => (
        <div className="card warning" key={k} data-testid="dataset-warning">
          {w.message}{" "}
          {w.fix && convertForm && (
            <button onClick={() => (setConvertForm(applyFix(convertForm, w.fix!)), go("convert"))}>{w.fix_label}</button>
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
              <th>Storage</th>
              <th>Values stored</th>
            </tr>
          </thead>
          <tbody>
            {i.matrices.map((m) => (
              <tr key={m.name}>
                <td>
                  {m.name}
                  {m.name === (convertForm?.input.matrix ?? i.default_matrix) && <span className="tag">used</span>}
                </td>
                <td>{m.description}</td>
                <td>
                  {m.storage} {m.dtype}
                </td>
                <td>{m.stored_values?.toLocaleString() ?? "–"}</td>
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
            <select value={column} onChange={(e) => setColumn(e.target.value)} data-testid="label-column">
              <option value="">(none)</option>
              {candidates.map((c) => (
                <option key={c.name} value={c.name}>
                  {c.name} ({c.distinct} values)
                </option>
              ))}
            </select>
          </label>
          {col && (
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
            {drawing && <span className="muted">drawing…</span>}
          </div>
          {mapError && <div className="error-text">{mapError}</div>}
          {map && (
            <Chart
              testId="dataset-map"
              name={`map-${map.method}-${column || "cells"}`}
              option={scatterOption(map.x, map.y, map.labels, map.axis_names, `${map.method} of ${map.x.length.toLocaleString()} cells`)}
              height={420}
            />
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
