// The chat with a model: the messages and the cells streaming into them.
import type { Marker } from "../api";
import type { ChatCell, ChatCells, GroupCall } from "../bindings";
import { numberLocale } from "./format";

export interface Ranked {
  label: string;
  confidence: number;
  ranking: [string, number][];
  unknown_genes: string[];
}

export interface Message {
  id: number;
  role: "user" | "model" | "error";
  text: string;
  jobId?: number;
  /** Words written so far, per cell, while a generation runs. */
  streaming?: Record<number, string>;
  /** Generated cells, each word marked as a known gene or not. */
  cells?: ChatCell[];
  validShare?: number;
  uniqueShare?: number;
  prediction?: Ranked;
  /** The genes a prediction was asked about (the words the model read), for the evidence. */
  genes?: string[];
  added?: boolean;
  done?: boolean;
  /** The model that answered (replies only). */
  model?: string;
}

export interface Chat {
  next: number;
  messages: Message[];
}

export type ChatAction =
  /** The project's chat as saved (or a fresh one); replies cut off by a restart end there. */
  | { type: "restore"; chat: Chat | null }
  | { type: "user"; text: string }
  | { type: "generating"; jobId: number; text: string; model?: string }
  | { type: "text"; jobId: number; cell: number; text: string }
  | { type: "generated"; jobId: number; result: ChatCells }
  | { type: "stopped"; jobId: number; error: string | null; text?: string }
  /** `asked`: how many of the question's words the model read. */
  | { type: "prediction"; result: Ranked; asked: number; truth?: string; model?: string; genes?: string[] }
  | { type: "added"; id: number }
  /** What the model calls a group of cells (a selection on a map). */
  | { type: "group"; call: GroupCall; model?: string }
  | { type: "error"; text: string };

/** The engine's `GroupCall`: the types a model names for a group of cells. */
export type { GroupCall };

export const emptyChat: Chat = { next: 1, messages: [] };

/** The most messages kept for a project: older ones are dropped when saved. */
export const KEPT_MESSAGES = 200;

/** A saved chat as it can go on: a reply the app was writing when it closed says so. */
function restored(saved: Chat | null): Chat {
  if (!saved || !Array.isArray(saved.messages)) return emptyChat;
  const messages = saved.messages.map((m) =>
    m.role === "model" && !m.done ? { ...m, streaming: undefined, jobId: undefined, done: true, text: `${m.text} (stopped: the app was closed)`.trim() } : m,
  );
  return { next: Math.max(saved.next ?? 1, ...messages.map((m) => m.id + 1)), messages };
}

/** The chat as saved for a project: the last messages, without the words still streaming. */
export function toSave(chat: Chat): Chat {
  return { next: chat.next, messages: chat.messages.slice(-KEPT_MESSAGES).map(({ streaming, ...m }) => m) };
}

function push(chat: Chat, m: Omit<Message, "id">): Chat {
  return { next: chat.next + 1, messages: [...chat.messages, { ...m, id: chat.next }] };
}

function update(chat: Chat, jobId: number, f: (m: Message) => Message): Chat {
  return { ...chat, messages: chat.messages.map((m) => (m.jobId === jobId ? f(m) : m)) };
}

export function chatReducer(chat: Chat, a: ChatAction): Chat {
  switch (a.type) {
    case "restore":
      return restored(a.chat);
    case "user":
      return push(chat, { role: "user", text: a.text });
    case "generating":
      return push(chat, { role: "model", text: a.text, jobId: a.jobId, streaming: {}, model: a.model });
    case "text":
      return update(chat, a.jobId, (m) => (m.done ? m : { ...m, streaming: { ...m.streaming, [a.cell]: a.text } }));
    case "generated":
      return update(chat, a.jobId, (m) => ({
        ...m,
        done: true,
        streaming: undefined,
        cells: a.result.cells,
        validShare: a.result.valid_share,
        uniqueShare: a.result.unique_share,
      }));
    case "stopped":
      // Free text ends with its whole answer; a cancelled generation says so.
      if (a.text !== undefined) return update(chat, a.jobId, (m) => ({ ...m, done: true, streaming: undefined, text: a.text! }));
      return update(chat, a.jobId, (m) => ({ ...m, done: true, text: a.error ? `${m.text} — stopped: ${a.error}` : `${m.text} — stopped` }));
    case "prediction":
      // The model ranks its types whatever it is given: with no gene it
      // knows there is nothing to go on, so it says so instead.
      if (a.result.unknown_genes.length >= a.asked)
        return push(chat, {
          role: "error",
          text: "None of these words is a gene this model knows, so it cannot tell a cell type from them. Paste a cell's genes, most expressed first.",
          done: true,
        });
      return push(chat, {
        role: "model",
        text: predictionText(a.result, a.asked, a.truth),
        prediction: a.result,
        genes: a.genes,
        done: true,
        model: a.model,
      });
    case "added":
      return { ...chat, messages: chat.messages.map((m) => (m.id === a.id ? { ...m, added: true } : m)) };
    case "group":
      return push(chat, { role: a.call.scored ? "model" : "error", text: groupText(a.call), done: true, model: a.call.scored ? a.model : undefined });
    case "error":
      return push(chat, { role: "error", text: a.text, done: true });
  }
}

/** What the chat says to a message it cannot read: a request it does not
 * know, or words too few of which are genes the model knows (`genes`). */
export function notUnderstood(types: string[], genes?: { words: number; known: number }): string {
  const why = genes ? `: ${genes.known} of the ${genes.words} words it read are genes this model knows` : "";
  return `I did not understand that${why}. Try “generate 10 cells of type ${types[0] ?? "…"}”, or a list of genes (most expressed first) to name its type.`;
}

/** A prediction in words that match the evidence: a clear call only when the
 * top type is likely and well ahead of the next one. */
export function predictionText(r: Ranked, asked: number, truth?: string): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  const second = r.ranking.find(([l]) => l !== r.label);
  const unknown = r.unknown_genes.length > 0 ? ` ${r.unknown_genes.length} of the ${asked} words are not genes it knows.` : "";
  // A cell of the dataset: what its label says, and whether the model agrees.
  const known = truth ? ` The dataset labels this cell ${truth}: ${truth === r.label ? "the model is right" : "the model is wrong"}.` : "";
  if (r.confidence >= 0.5 && (!second || r.confidence - second[1] >= 0.2))
    return `This looks like a ${r.label} (confidence ${pct(r.confidence)}).${unknown}${known}`;
  const alt = second ? `, or a ${second[0]} (${pct(second[1])})` : "";
  return `Not sure: most like a ${r.label} (${pct(r.confidence)})${alt}.${unknown}${known}`;
}

/** The cell type of `types` a typed name means: case, a trailing full stop
 * and plurals aside ("b cells" is "B cell"), with or without "cell". */
function matchType(asked: string, types: string[]): string | undefined {
  const norm = (s: string) =>
    s
      .toLowerCase()
      .replace(/[.!?]+$/, "")
      .split(/\s+/)
      .filter(Boolean)
      .map((w) => w.replace(/s$/, ""))
      .join(" ");
  const a = norm(asked);
  return types.find((t) => norm(t) === a) ?? types.find((t) => norm(t) === `${a} cell`);
}

/** Reads "generate 20 cells of type B cells" style requests typed in the box.
 * With `keepsEnglish` (a fine-tuned GPT-2), only upper-case words count as a
 * gene list, as cell sentences are written: other text goes to the model. */
export function parseRequest(
  text: string,
  types: string[],
  keepsEnglish = false,
):
  | { kind: "generate"; n: number; cellType: string | null }
  | { kind: "unknown-type"; asked: string }
  | { kind: "predict"; sentence: string }
  | null {
  const t = text.trim();
  // "make 5 b cells", "generate 3 cells of type NK cell", "write 2 new cells".
  const gen = /^(?:generate|make|write|create|give(?:\s+me)?)\s+(?:(\d+)\s*)?(.*?)\.?$/i.exec(t);
  if (gen) {
    const n = gen[1] ? parseInt(gen[1], 10) : 1;
    const rest = gen[2].trim().replace(/^new\s+/i, "");
    if (/^cells?$/i.test(rest) || rest === "") return { kind: "generate", n, cellType: null };
    const asked = /^cells?\s+of\s+(?:type\s+)?(.+)$/i.exec(rest)?.[1] ?? rest;
    const match = matchType(asked, types);
    return match ? { kind: "generate", n, cellType: match } : { kind: "unknown-type", asked };
  }
  const words = t.split(/[\s,]+/).filter(Boolean);
  const gene = keepsEnglish ? /^[A-Z0-9][A-Z0-9.\-_]*$/ : /^[A-Za-z0-9][A-Za-z0-9.\-_]*$/;
  if (words.length >= 3 && words.every((w) => gene.test(w))) {
    return { kind: "predict", sentence: words.join(" ") };
  }
  return null;
}

/** What a model calls a group of cells, in words: the commonest answer
 * first, with its share, then the others; cells the dataset does not hold
 * (filtered out at conversion) and a sample of a large group are said. */
export function groupText(c: GroupCall): string {
  if (!c.found) return "None of these cells is in the converted dataset (they were filtered out), so the model cannot be asked about them.";
  const pct = (n: number) => `${Math.round((100 * n) / c.scored)} %`;
  const num = (n: number) => n.toLocaleString(numberLocale);
  const [top, ...rest] = c.types;
  const lead =
    c.types.length === 1
      ? c.scored === 1
        ? `The model calls this cell ${top[0]}.`
        : `The model calls all ${c.scored} of these cells ${top[0]}.`
      : top[1] / c.scored >= 0.8
        ? `Mostly ${top[0]}: the model calls ${top[1]} of ${c.scored} cells (${pct(top[1])}) ${top[0]}.`
        : `A mix: the model calls ${top[1]} of ${c.scored} cells (${pct(top[1])}) ${top[0]}.`;
  const others = rest.length ? ` Then ${rest.map(([t, n]) => `${t} ${n} (${pct(n)})`).join(", ")}.` : "";
  const notes = [
    c.found < c.asked ? `${num(c.asked - c.found)} of the ${num(c.asked)} selected cells were filtered out at conversion.` : "",
    c.scored < c.found ? `Asked about an even spread of ${num(c.scored)} of the ${num(c.found)} cells.` : "",
  ].filter(Boolean);
  return `${lead}${others}${notes.length ? ` ${notes.join(" ")}` : ""}`;
}

/** A gene's marker note in a generated cell of `type`, or null when it is
 * not one of the type's marker genes in the user's data. */
export function markerNote(gene: string, type: string | null | undefined, markers: Record<string, Marker[]>): string | null {
  const m = type ? markers[type]?.find((x) => x.gene === gene) : undefined;
  if (!m) return null;
  const pct = (v: number) => `${Math.round(100 * v)} %`;
  return `a marker of ${type} in your data: among the top 100 genes of ${pct(m.share_in)} of its cells and ${pct(m.share_out)} of other cells`;
}

/** The evidence for an answer in a biologist's terms: which marker genes of
 * the answered type (in the user's data) the asked cell holds, in its order. */
export function markerEvidence(genes: string[] | undefined, type: string, markers: Record<string, Marker[]>): string | null {
  const mine = markers[type];
  if (!genes?.length || !mine?.length) return null;
  const known = new Set(mine.map((m) => m.gene));
  const held = genes.map((g) => g.toUpperCase()).filter((g) => known.has(g));
  if (held.length === 0) return `This cell holds none of the ${mine.length} marker genes of ${type} in your data among its first ${genes.length} genes.`;
  return `Marker genes of ${type} in your data that this cell holds: ${held.join(", ")} (${held.length} of ${mine.length}).`;
}
