// The console's only way to the server: the public REST API (docs/api.md), with the
// app's API key in the Authorization header. The key lives in sessionStorage: it
// survives reloads of this tab, is gone when the tab closes, and never enters a URL.

const KEY = "headstart.apiKey";
const APP = "headstart.app";
// The API sits beside the console: /console/ → /v1/..., also behind a path prefix.
const BASE = new URL("../", document.baseURI);

/** An error answer of the API ({"error": {code, message, details}}) or a network failure. */
export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  get app() { return sessionStorage.getItem(APP); },
  signIn(key, appId) {
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(APP, appId);
  },
  signOut() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(APP);
  },
};

function url(path, query) {
  const u = new URL(path.replace(/^\//, ""), BASE);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  }
  return u;
}

function headers(key) {
  return { Authorization: `Bearer ${key ?? session.key ?? ""}` };
}

async function errorFrom(resp) {
  let body = null;
  try { body = await resp.json(); } catch { /* not JSON: use the status line */ }
  const e = body && body.error ? body.error : {};
  return new ApiError(resp.status, e.code || `http_${resp.status}`,
                      e.message || resp.statusText || "request failed", e.details);
}

function refused(status) {
  // A key revoked or rotated elsewhere: the app shell sends the user to sign in again.
  if (status === 401) window.dispatchEvent(new CustomEvent("headstart:unauthorized"));
}

/**
 * Call the API.
 * @param {string} method  GET, POST, PATCH, DELETE
 * @param {string} path    e.g. "/v1/inputs"
 * @param {{json?: any, form?: FormData, query?: object, key?: string, signal?: AbortSignal}} opts
 * @returns {Promise<any>} the JSON body (null for 204)
 */
export async function api(method, path, opts = {}) {
  const h = headers(opts.key);
  let body;
  if (opts.json !== undefined) {
    h["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  } else if (opts.form) {
    body = opts.form; // the browser writes the multipart boundary
  }
  let resp;
  try {
    resp = await fetch(url(path, opts.query), { method, headers: h, body, signal: opts.signal,
                                                 cache: "no-store", credentials: "omit" });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network_error", `The API could not be reached (${err.message}).`);
  }
  if (!resp.ok) {
    if (!opts.key) refused(resp.status);
    throw await errorFrom(resp);
  }
  return resp.status === 204 ? null : resp.json();
}

/**
 * POST a multipart body with upload progress (fetch cannot report it; XHR can).
 * @param {string} path
 * @param {FormData} form
 * @param {(sent: number, total: number) => void} onProgress
 */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url(path));
    xhr.setRequestHeader("Authorization", headers().Authorization);
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); };
    xhr.onerror = () => reject(new ApiError(0, "network_error", "The upload failed: the API could not be reached."));
    xhr.onload = () => {
      const body = xhr.response;
      if (xhr.status >= 200 && xhr.status < 300) return resolve(body);
      refused(xhr.status);
      const e = body && body.error ? body.error : {};
      reject(new ApiError(xhr.status, e.code || `http_${xhr.status}`,
                          e.message || xhr.statusText || "upload failed", e.details));
    };
    xhr.send(form);
  });
}

const ENDED = new Set(["succeeded", "failed", "cancelled"]);

/**
 * Poll a job until it ends, reporting each state seen.
 * @param {string} jobId
 * @param {(job: object) => void} onUpdate
 * @param {AbortSignal} signal  stops polling when the page changes
 * @returns {Promise<object>} the ended job
 */
export async function waitJob(jobId, onUpdate, signal, intervalMs = 400) {
  for (;;) {
    const { job } = await api("GET", `/v1/jobs/${encodeURIComponent(jobId)}`, { signal });
    onUpdate(job);
    if (ENDED.has(job.status)) return job;
    await sleep(intervalMs, signal);
  }
}

export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(t); reject(new DOMException("aborted", "AbortError")); },
                            { once: true });
  });
}

export const enc = encodeURIComponent;
