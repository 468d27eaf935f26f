// App-wide state: the open project, its datasets and runs, background jobs
// (fed by the backend's events), the chat and the convert wizard's form.
import { listen } from "@tauri-apps/api/event";
import { createContext, useCallback, useContext, useEffect, useMemo, useReducer, useRef, useState, type ReactNode } from "react";
import { api, errorText, type FolderModel, type OpenedDataset, type Project, type ProjectState } from "./api";
import { chatReducer, emptyChat, toSave, type Chat, type ChatAction } from "./state/chat";
import { defaultConvertForm, type ConvertForm } from "./state/forms";
import { jobsReducer, type JobAction, type Jobs } from "./state/jobs";
import type { ChatText, JobDone, JobProgress } from "./bindings";

export type Screen = "home" | "models" | "dataset" | "convert" | "train" | "chat" | "compare" | "annotate" | "help";

/** The published model in use: a Hub id or a folder, and what it is. */
export interface PublishedInUse {
  model: string;
  info: FolderModel;
}

interface AppContext {
  screen: Screen;
  go: (s: Screen) => void;
  opened: OpenedDataset | null;
  project: Project | null;
  state: ProjectState | null;
  refresh: () => Promise<void>;
  openPath: (path: string) => Promise<void>;
  opening: boolean;
  openError: string | null;
  jobs: Jobs;
  dispatchJob: (a: JobAction) => void;
  chat: Chat;
  dispatchChat: (a: ChatAction) => void;
  convertForm: ConvertForm | null;
  setConvertForm: (f: ConvertForm) => void;
  modelDir: string | null;
  setModelDir: (d: string | null) => void;
  published: PublishedInUse | null;
  setPublished: (p: PublishedInUse | null) => void;
  notify: (text: string, error?: boolean) => void;
  toast: { text: string; error: boolean } | null;
}

const Ctx = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const c = useContext(Ctx);
  if (!c) throw new Error("useApp outside AppProvider");
  return c;
}

export function AppProvider({ children }: { children: ReactNode }) {
  const [screen, go] = useState<Screen>("home");
  const [opened, setOpened] = useState<OpenedDataset | null>(null);
  const [state, setState] = useState<ProjectState | null>(null);
  const [opening, setOpening] = useState(false);
  const [openError, setOpenError] = useState<string | null>(null);
  const [jobs, dispatchJob] = useReducer(jobsReducer, {});
  const [chat, dispatchChat] = useReducer(chatReducer, emptyChat);
  const [convertForm, setConvertForm] = useState<ConvertForm | null>(null);
  const [modelDir, setModelDir] = useState<string | null>(null);
  const [published, setPublished] = useState<PublishedInUse | null>(null);
  const [toast, setToast] = useState<{ text: string; error: boolean } | null>(null);

  const notify = useCallback((text: string, error = false) => {
    setToast({ text, error });
    window.setTimeout(() => setToast((t) => (t?.text === text ? null : t)), 6000);
  }, []);

  useEffect(() => {
    const un = [
      listen<JobProgress>("job-progress", (e) => dispatchJob({ type: "progress", event: e.payload })),
      listen<JobDone>("job-done", (e) => dispatchJob({ type: "done", event: e.payload })),
      listen<ChatText>("chat-text", (e) => dispatchChat({ type: "text", jobId: e.payload.job_id, cell: e.payload.cell, text: e.payload.text })),
    ];
    return () => un.forEach((p) => p.then((f) => f()));
  }, []);

  const project = opened?.project ?? null;

  const refresh = useCallback(async () => {
    if (!project) return;
    try {
      setState(await api.projectState(project.id));
    } catch (e) {
      notify(errorText(e), true);
    }
  }, [project, notify]);

  useEffect(() => {
    refresh();
  }, [refresh]);

  // Each project's chat, kept in the project store: restored when the
  // project opens, saved (a moment after it changes) as it goes on.
  const [chatOf, setChatOf] = useState<number | null>(null);
  useEffect(() => {
    setChatOf(null);
    if (!project) return;
    let stale = false;
    api
      .chatHistory(project.id)
      .then((c) => !stale && (dispatchChat({ type: "restore", chat: c }), setChatOf(project.id)))
      .catch(() => !stale && (dispatchChat({ type: "restore", chat: null }), setChatOf(project.id)));
    return () => {
      stale = true;
    };
  }, [project?.id]);
  // At once when a message is added or a reply ends (closing the app may
  // follow at any moment); at most every 0.4 s while words stream in (a
  // delay that restarted with each change would never save a long reply);
  // and at once when the project changes.
  const chatNow = useRef(chat);
  chatNow.current = chat;
  const saving = useRef<number | null>(null);
  const savedShape = useRef("");
  useEffect(() => {
    if (chatOf == null || chatOf !== project?.id) return;
    const shape = `${chat.messages.length}:${chat.messages.filter((m) => m.done).length}`;
    const save = () => {
      saving.current = null;
      savedShape.current = shape;
      api.saveChat(chatOf, toSave(chatNow.current)).catch(() => {});
    };
    if (shape !== savedShape.current) {
      if (saving.current != null) window.clearTimeout(saving.current);
      save();
    } else if (saving.current == null) saving.current = window.setTimeout(save, 400);
  }, [chat, chatOf]);
  useEffect(
    () => () => {
      if (chatOf == null || saving.current == null) return;
      window.clearTimeout(saving.current);
      saving.current = null;
      api.saveChat(chatOf, toSave(chatNow.current)).catch(() => {});
    },
    [chatOf],
  );

  const openPath = useCallback(async (path: string) => {
    setOpening(true);
    setOpenError(null);
    try {
      const o = await api.openDataset(path);
      setOpened(o);
      setConvertForm(defaultConvertForm(o.inspection, o.input_defaults));
      setModelDir(null);
      go("dataset");
    } catch (e) {
      setOpenError(errorText(e));
      go("home");
    } finally {
      setOpening(false);
    }
  }, []);

  const value = useMemo(
    () => ({ screen, go, opened, project, state, refresh, openPath, opening, openError, jobs, dispatchJob, chat, dispatchChat, convertForm, setConvertForm, modelDir, setModelDir, published, setPublished, notify, toast }),
    [screen, opened, project, state, refresh, openPath, opening, openError, jobs, chat, convertForm, modelDir, published, notify, toast],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}
