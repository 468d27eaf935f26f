/**
 * The locale numbers are written in: the system's, unless it groups no
 * thousands (WebKit under the C or POSIX locale writes 13714), then English
 * (13,714).
 */
export const numberLocale: string | undefined = (1234567).toLocaleString().length > 7 ? undefined : "en-US";

/** A matrix of the file in a biologist's words (the engine names them X,
 * raw and layer:NAME): AnnData's X is the main one, raw a copy kept before
 * processing, layers other versions of it (such as counts). */
export function matrixWords(name: string): string {
  if (name === "X") return "main matrix";
  if (name === "raw") return "raw copy";
  return `layer “${name.replace(/^layers?[:/]/, "")}”`;
}

/** How a matrix is stored, in plain words ("csr float32" is "sparse, by
 * cell; decimal numbers"); the technical terms go in a tooltip. */
export function storageWords(storage: string, dtype: string): string {
  const layout = storage === "csr" ? "sparse, by cell" : storage === "csc" ? "sparse, by gene" : storage === "dense" ? "every value kept" : storage;
  const kind = /^(u?int|i\d|u\d)/i.test(dtype) ? "whole numbers" : /^(float|f\d)/i.test(dtype) ? "decimal numbers" : dtype;
  return `${layout}; ${kind}`;
}
