// Thumbnails drawn in the browser from the files the user drops.
//
// Headstart keeps vectors and a description of each image or video, never the file
// (docs/api.md, "What an input shows afterwards"), so the server has no picture to
// show. The console draws a small JPEG from each file it uploads and keeps it in this
// tab's sessionStorage under the input id, checked against the size the API reports,
// so inputs added in this tab show their picture; others show their description.

import { session } from "./api.js";

const STORE = "headstart.thumbs";
const SIDE = 160;

function load() {
  try { return JSON.parse(sessionStorage.getItem(STORE) || "{}"); } catch { return {}; }
}

function save(all) {
  // sessionStorage holds a few MB: when full, forget the oldest half and retry once.
  try {
    sessionStorage.setItem(STORE, JSON.stringify(all));
  } catch {
    const keys = Object.keys(all).sort((a, b) => all[a].t - all[b].t);
    for (const k of keys.slice(0, Math.ceil(keys.length / 2))) delete all[k];
    try { sessionStorage.setItem(STORE, JSON.stringify(all)); } catch { /* give up quietly */ }
  }
}

function drawScaled(source, width, height) {
  const scale = Math.min(1, SIDE / Math.max(width, height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  canvas.getContext("2d").drawImage(source, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL("image/jpeg", 0.8);
}

async function imageThumb(file) {
  const bitmap = await createImageBitmap(file);
  try { return drawScaled(bitmap, bitmap.width, bitmap.height); } finally { bitmap.close(); }
}

function videoThumb(file) {
  // A frame half a second in; codecs the browser cannot play give no thumbnail.
  return new Promise((resolve) => {
    const src = URL.createObjectURL(file);
    const video = document.createElement("video");
    const done = (value) => { clearTimeout(timer); URL.revokeObjectURL(src); resolve(value); };
    const timer = setTimeout(() => done(null), 3000);
    video.muted = true;
    video.preload = "auto";
    video.addEventListener("loadeddata", () => { video.currentTime = Math.min(0.5, (video.duration || 1) / 2); });
    video.addEventListener("seeked", () => {
      try { done(drawScaled(video, video.videoWidth, video.videoHeight)); } catch { done(null); }
    });
    video.addEventListener("error", () => done(null));
    video.src = src;
  });
}

/** A data: URL of a small JPEG of the file, or null when the browser cannot draw it. */
export async function thumbnailOf(file, kind) {
  try {
    return kind === "video" ? await videoThumb(file) : await imageThumb(file);
  } catch {
    return null;
  }
}

/** Keep the thumbnail of an uploaded input (by id and file size). */
export function remember(inputId, size, dataUrl) {
  if (!dataUrl) return;
  const all = load();
  all[`${session.app}/${inputId}`] = { b: size, u: dataUrl, t: Date.now() };
  save(all);
}

/** The kept thumbnail of an input, if it is still the file this tab uploaded. */
export function recall(input) {
  const media = input.data && (input.data.image || input.data.video);
  if (!media) return null;
  const hit = load()[`${session.app}/${input.id}`];
  return hit && hit.b === media.bytes ? hit.u : null;
}
