// Background jobs as the UI sees them, built from the backend's events.
// Events can arrive in any order relative to the command that started the
// job (a fast job may finish before its id comes back), so every action
// merges instead of replacing.

import type { JobDone, JobProgress, JobResult, ProgressDetail, TrainingFigures } from "../bindings";

export type JobStatus = "running" | "ok" | "cancelled" | "failed";
export type JobProgressEvent = JobProgress;
export type JobDoneEvent = JobDone;

export interface LossPoint {
  step: number;
  train: number;
  val: number | null;
}

export interface JobState {
  id: number;
  kind: string;
  stage: string;
  done: number;
  total: number;
  detail: ProgressDetail | null;
  status: JobStatus;
  result: JobResult | null;
  error: string | null;
  /** Training jobs: the loss at each reported step. */
  loss: LossPoint[];
}

export type Jobs = Record<number, JobState>;

export type JobAction =
  | { type: "started"; id: number; kind: string }
  | { type: "progress"; event: JobProgressEvent }
  | { type: "done"; event: JobDoneEvent };

function blank(id: number, kind: string): JobState {
  return { id, kind, stage: "starting", done: 0, total: 0, detail: null, status: "running", result: null, error: null, loss: [] };
}

export function jobsReducer(jobs: Jobs, action: JobAction): Jobs {
  switch (action.type) {
    case "started": {
      if (jobs[action.id]) return jobs;
      return { ...jobs, [action.id]: blank(action.id, action.kind) };
    }
    case "progress": {
      const e = action.event;
      const prev = jobs[e.id] ?? blank(e.id, e.kind);
      // A late progress event never reopens a finished job.
      if (prev.status !== "running") return jobs;
      let loss = prev.loss;
      const d = e.detail;
      if (d?.of === "training" && d.train_loss != null && !loss.some((p) => p.step === e.done)) {
        loss = [...loss, { step: e.done, train: d.train_loss, val: d.val_loss ?? null }];
      }
      return { ...jobs, [e.id]: { ...prev, stage: e.stage, done: e.done, total: e.total, detail: d ?? prev.detail, loss } };
    }
    case "done": {
      const e = action.event;
      const prev = jobs[e.id] ?? blank(e.id, e.kind);
      return { ...jobs, [e.id]: { ...prev, status: e.status, result: e.result, error: e.error } };
    }
  }
}

/** The result of a job of the given kind, if it has one. */
export function resultOf<K extends JobResult["job"]>(
  job: JobState | null | undefined,
  kind: K,
): Extract<JobResult, { job: K }> | null {
  const r = job?.result;
  return r != null && r.job === kind ? (r as Extract<JobResult, { job: K }>) : null;
}

/** A training job's latest figures, if it reported any. */
export function trainingFigures(job: JobState | null | undefined): TrainingFigures | null {
  const d = job?.detail;
  return d?.of === "training" ? d : null;
}

/** Share of the work done, 0 to 1; null while the total is unknown. */
export function fraction(job: JobState): number | null {
  if (job.status === "ok") return 1;
  if (!job.total) return null;
  return Math.min(1, job.done / job.total);
}

/** "45 s", "3 min", "1 h 20 min". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
