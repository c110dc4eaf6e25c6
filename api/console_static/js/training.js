// Following a train job on a progress bar. A train job reports no partial progress
// (docs/api.md, Jobs: `total` 1), so the bar shows what is real: while the job
// waits for the embed jobs it depends on (`params.after_jobs`), their inputs embedded
// so far; while it trains, an indeterminate bar with the time spent; then done.

import { api, enc, sleep } from "./api.js";

const ENDED = ["succeeded", "failed", "cancelled"];

async function embedProgress(ids, signal) {
  const jobs = await Promise.all(ids.map((id) =>
    api("GET", `/v1/jobs/${enc(id)}`, { signal }).then((b) => b.job).catch(() => null)));
  const live = jobs.filter((j) => j && !ENDED.includes(j.status));
  const done = live.reduce((n, j) => n + (j.progress?.done || 0), 0);
  const total = live.reduce((n, j) => n + (j.progress?.total || 0), 0);
  return live.length ? { done, total } : null;
}

/**
 * Poll a train job until it ends, updating `progress` (dom.progressBar).
 * @returns {Promise<object>} the ended job
 */
export async function followTrain(jobId, progress, signal) {
  for (;;) {
    const { job } = await api("GET", `/v1/jobs/${enc(jobId)}`, { signal });
    if (job.status === "queued") {
      const waiting = await embedProgress(job.params?.after_jobs || [], signal);
      progress.update(waiting
        ? { fraction: waiting.total ? waiting.done / waiting.total : null, state: "queued",
            message: `Queued: waiting for embedding (${waiting.done} of ${waiting.total} inputs)` }
        : { fraction: null, state: "queued", message: "Queued: waiting for a worker" });
    } else if (job.status === "running") {
      const secs = job.started_at ? Math.max(0, Date.now() / 1000 - job.started_at) : 0;
      progress.update({ fraction: null, state: "running",
                        message: `Training: cross-validating and fitting the head (${secs.toFixed(0)} s)` });
    } else if (job.status === "succeeded") {
      const secs = job.finished_at - (job.started_at || job.created_at);
      progress.update({ fraction: 1, state: "succeeded", message: `Trained in ${secs.toFixed(1)} s` });
    } else {
      const e = job.error || {};
      progress.update({ fraction: 1, state: "failed",
                        message: `Training ${job.status}: ${e.code ? `${e.code}: ` : ""}${e.message || ""}` });
    }
    if (ENDED.includes(job.status)) return job;
    await sleep(400, signal);
  }
}
