// A background job that follows the screen's settings: started when they
// change, the one before cancelled, and cancelled when the screen goes.
import { useEffect, useState, type DependencyList } from "react";
import { api, errorText } from "../api";
import { useApp } from "../store";

/** Starts `start()` (when given) each time `deps` change; returns the
 * running job's id and the error of starting it. */
export function useLatestJob(start: (() => Promise<number>) | null, kind: string, deps: DependencyList) {
  const { dispatchJob } = useApp();
  const [jobId, setJobId] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!start) return;
    let stale = false;
    let id: number | null = null;
    setError(null);
    start()
      .then((j) => {
        id = j;
        if (stale) return api.cancelJob(j);
        dispatchJob({ type: "started", id: j, kind });
        setJobId(j);
      })
      .catch((e) => !stale && setError(errorText(e)));
    return () => {
      stale = true;
      if (id != null) api.cancelJob(id);
    };
  }, deps);
  return { jobId, error, setError };
}
