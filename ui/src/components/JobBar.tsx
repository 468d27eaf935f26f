// Progress of a background job, with its Cancel button.
import { numberLocale } from "../state/format";
import { api } from "../api";
import { fraction, formatDuration, trainingFigures, type JobState } from "../state/jobs";

export function JobBar({ job, onCancel, cancelLabel = "Cancel", testId }: { job: JobState | undefined; onCancel?: () => void; cancelLabel?: string; testId?: string }) {
  if (!job) return null;
  const f = fraction(job);
  const running = job.status === "running";
  const eta = trainingFigures(job)?.eta_s;
  return (
    <div className={`jobbar ${job.status}`} data-testid={testId ?? `job-${job.kind}`} data-status={job.status}>
      <div className="jobbar-top">
        <span>
          {running ? job.stage : job.status === "ok" ? "Done" : job.status === "cancelled" ? "Stopped" : "Failed"}
          {job.total > 0 && running && ` — ${job.done.toLocaleString(numberLocale)} / ${job.total.toLocaleString(numberLocale)}`}
          {running && eta != null && ` — about ${formatDuration(eta)} left`}
        </span>
        {running && (
          <button className="danger" onClick={onCancel ?? (() => api.cancelJob(job.id))} data-testid="cancel-job">
            {cancelLabel}
          </button>
        )}
      </div>
      <div className="bar">
        <div className={f == null && running ? "fill indeterminate" : "fill"} style={{ width: `${100 * (f ?? (running ? 0.3 : 1))}%` }} />
      </div>
      {job.error && <div className="error-text">{job.error}</div>}
    </div>
  );
}
