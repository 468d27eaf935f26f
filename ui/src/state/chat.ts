// The chat with a model: the messages and the cells streaming into them.

export interface Word {
  gene: string;
  valid: boolean;
}

export interface GeneratedCell {
  cell_name: string;
  cell_type: string | null;
  cell_sentence: string;
  words: Word[];
}

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
  cells?: GeneratedCell[];
  validShare?: number;
  uniqueShare?: number;
  prediction?: Ranked;
  added?: boolean;
  done?: boolean;
}

export interface Chat {
  next: number;
  messages: Message[];
}

export type ChatAction =
  | { type: "user"; text: string }
  | { type: "generating"; jobId: number; text: string }
  | { type: "text"; jobId: number; cell: number; text: string }
  | { type: "generated"; jobId: number; result: any }
  | { type: "stopped"; jobId: number; error: string | null; text?: string }
  | { type: "prediction"; result: Ranked }
  | { type: "added"; id: number }
  | { type: "error"; text: string };

export const emptyChat: Chat = { next: 1, messages: [] };

function push(chat: Chat, m: Omit<Message, "id">): Chat {
  return { next: chat.next + 1, messages: [...chat.messages, { ...m, id: chat.next }] };
}

function update(chat: Chat, jobId: number, f: (m: Message) => Message): Chat {
  return { ...chat, messages: chat.messages.map((m) => (m.jobId === jobId ? f(m) : m)) };
}

export function chatReducer(chat: Chat, a: ChatAction): Chat {
  switch (a.type) {
    case "user":
      return push(chat, { role: "user", text: a.text });
    case "generating":
      return push(chat, { role: "model", text: a.text, jobId: a.jobId, streaming: {} });
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
      return push(chat, {
        role: "model",
        text: `This looks like a ${a.result.label} (confidence ${(100 * a.result.confidence).toFixed(1)} %).`,
        prediction: a.result,
        done: true,
      });
    case "added":
      return { ...chat, messages: chat.messages.map((m) => (m.id === a.id ? { ...m, added: true } : m)) };
    case "error":
      return push(chat, { role: "error", text: a.text, done: true });
  }
}

/** Reads "generate 20 cells of type B cells" style requests typed in the box.
 * With `keepsEnglish` (a fine-tuned GPT-2), only upper-case words count as a
 * gene list, as cell sentences are written: other text goes to the model. */
export function parseRequest(
  text: string,
  types: string[],
  keepsEnglish = false,
): { kind: "generate"; n: number; cellType: string | null } | { kind: "predict"; sentence: string } | null {
  const t = text.trim();
  const gen = /^(?:generate|make|write)\s+(\d+)?\s*(?:new\s+)?cells?(?:\s+of\s+(?:type\s+)?(.+?))?\.?$/i.exec(t);
  if (gen) {
    const n = gen[1] ? parseInt(gen[1], 10) : 1;
    const asked = gen[2]?.trim();
    if (!asked) return { kind: "generate", n, cellType: null };
    const match = types.find((x) => x.toLowerCase() === asked.toLowerCase());
    return match ? { kind: "generate", n, cellType: match } : null;
  }
  const words = t.split(/[\s,]+/).filter(Boolean);
  const gene = keepsEnglish ? /^[A-Z0-9][A-Z0-9.\-_]*$/ : /^[A-Za-z0-9][A-Za-z0-9.\-_]*$/;
  if (words.length >= 3 && words.every((w) => gene.test(w))) {
    return { kind: "predict", sentence: words.join(" ") };
  }
  return null;
}
