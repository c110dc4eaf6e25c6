// Inputs: add files by drag and drop (or texts) with concept tags, watch them embed,
// and browse the app's inputs with thumbnails and editable labels, page by page.

import { api, enc, sleep, upload } from "../api.js";
import { badge, bytes, h, progressBar, replace, showError } from "../dom.js";
import { dropZone, mediaKind } from "../dropzone.js";
import { ID_RE, tagInput } from "../tags.js";
import { recall, remember, thumbnailOf } from "../thumbs.js";

const PAGE = 24;
// Within the API's defaults (128 inputs, 32 MiB per request), leaving room for base64-free
// multipart overhead.
const BATCH_INPUTS = 128;
const BATCH_BYTES = 24 * 1024 * 1024;

export async function inputsView(main, _params, signal) {
  const { concepts } = await api("GET", "/v1/concepts", { signal });
  const names = concepts.map((c) => c.id);
  const browser = browsePanel(names, signal);
  main.append(
    h("h1", { text: "Inputs" }),
    addPanel(names, signal, () => browser.reload()),
    browser.el);
  await browser.reload();
}

// --- adding ------------------------------------------------------------------------------
function addPanel(names, signal, onAdded) {
  const tags = tagInput({ id: "upload-concepts", label: "Concepts", suggestions: names,
                          hint: "Every file or text added here is labelled with these concepts (positives). Enter or comma adds one." });
  let staged = []; // [{file, kind, thumb}]
  const list = h("ul", { class: "staged", id: "staged", "aria-label": "Files to upload" });
  const errors = h("div", { id: "upload-error" });
  const status = h("div", { id: "upload-status" });
  const uploadButton = h("button", { type: "button", id: "upload-go", disabled: true }, "Upload");

  function renderStaged() {
    replace(list, staged.map((item) => h("li", { dataset: { name: item.file.name } },
      item.thumb ? h("img", { src: item.thumb, alt: "" }) : h("span", { class: "placeholder", text: item.kind }),
      h("span", { class: "name", text: item.file.name, title: item.file.name }),
      h("span", { class: "muted", text: bytes(item.file.size) }),
      h("button", { type: "button", class: "ghost small", "aria-label": `Remove ${item.file.name}`,
                    onclick: () => { staged = staged.filter((s) => s !== item); renderStaged(); } }, "×"))));
    uploadButton.disabled = !staged.length;
    uploadButton.textContent = staged.length ? `Upload ${staged.length} file${staged.length > 1 ? "s" : ""}` : "Upload";
  }

  async function addFiles(files) {
    showError(errors, null);
    const refused = files.filter((f) => !mediaKind(f)).map((f) => f.name);
    const items = files.filter((f) => mediaKind(f)).map((file) => ({ file, kind: mediaKind(file), thumb: null }));
    // Thumbnails after the list shows: drawing a large photo takes a moment. `ready` lets
    // an upload started meanwhile still keep each file's thumbnail.
    for (const item of items) item.ready = thumbnailOf(item.file, item.kind).then((t) => { item.thumb = t; });
    staged.push(...items);
    renderStaged();
    if (refused.length) {
      showError(errors, { message: `Not an image or a video: ${refused.join(", ")}`, code: "unsupported_file" });
    }
    await Promise.all(items.map((item) => item.ready));
    renderStaged();
  }

  const drop = dropZone({ id: "upload-drop", title: "Drop images or videos here",
                          hint: "or press Enter to choose files: JPEG, PNG, WebP, GIF, BMP, TIFF; MP4, MOV, WebM, MKV, AVI…",
                          onFiles: addFiles });

  /** Send the staged files in batches, then follow their embed jobs. */
  async function uploadStaged() {
    const labels = tags.get();
    if (labels === null || !staged.length) return;
    showError(errors, null);
    uploadButton.disabled = true;
    const progress = progressBar("Upload");
    replace(status, progress.el);
    const total = staged.reduce((n, s) => n + s.file.size, 0) || 1;
    let sentBefore = 0;
    const jobs = [];
    try {
      for (const batch of batches(staged)) {
        const form = new FormData();
        form.append("json", JSON.stringify({ inputs: batch.map((item, i) => ({
          data: { [item.kind]: { file: `f${i}` } },
          concepts: labels.map((id) => ({ id, value: 1 })),
        })) }));
        batch.forEach((item, i) => form.append(`f${i}`, item.file, item.file.name));
        const batchBytes = batch.reduce((n, s) => n + s.file.size, 0);
        const body = await upload("/v1/inputs", form, (sent, all) => progress.update({
          fraction: (sentBefore + (sent / all) * batchBytes) / total,
          message: `Uploading… ${Math.round(((sentBefore + (sent / all) * batchBytes) / total) * 100)}%` }));
        sentBefore += batchBytes;
        await Promise.all(batch.map((item) => item.ready));
        body.inputs.forEach((input, i) => remember(input.id, batch[i].file.size, batch[i].thumb));
        jobs.push(body.job.id);
        staged = staged.filter((s) => !batch.includes(s)); // sent: never sent twice
        renderStaged();
      }
      await followEmbedding(jobs, progress, signal);
      onAdded();
    } catch (err) {
      if (err.name === "AbortError") return;
      progress.update({ fraction: 0, message: "Not uploaded", state: "failed" });
      showError(errors, err);
    } finally {
      renderStaged();
    }
  }
  uploadButton.addEventListener("click", uploadStaged);

  const texts = h("textarea", { id: "upload-texts", rows: 4, placeholder: "One text per line" });
  const textButton = h("button", { type: "button", id: "upload-texts-go" }, "Add texts");
  textButton.addEventListener("click", async () => {
    const labels = tags.get();
    const lines = texts.value.split("\n").map((l) => l.trim()).filter(Boolean);
    if (labels === null) return;
    if (!lines.length) return showError(errors, { message: "Type at least one text (one per line).", code: "empty" });
    showError(errors, null);
    textButton.disabled = true;
    const progress = progressBar("Adding texts");
    progress.update({ message: "Sending…" });
    replace(status, progress.el);
    try {
      const jobs = [];
      for (let i = 0; i < lines.length; i += BATCH_INPUTS) {
        const body = await api("POST", "/v1/inputs", { json: { inputs: lines.slice(i, i + BATCH_INPUTS).map((text) => ({
          data: { text }, concepts: labels.map((id) => ({ id, value: 1 })) })) }, signal });
        jobs.push(body.job.id);
      }
      texts.value = "";
      await followEmbedding(jobs, progress, signal);
      onAdded();
    } catch (err) {
      if (err.name !== "AbortError") showError(errors, err);
    } finally {
      textButton.disabled = false;
    }
  });

  return h("section", { class: "card", id: "add-inputs", "aria-labelledby": "add-title" },
    h("h2", { id: "add-title", text: "Add inputs" }),
    tags.el,
    drop.el,
    list,
    h("div", { class: "actions" }, uploadButton),
    h("details", { id: "add-texts" },
      h("summary", { text: "Add texts instead" }),
      h("div", { class: "field" }, h("label", { for: "upload-texts", text: "Texts" }), texts),
      h("div", { class: "actions" }, textButton)),
    errors, status);
}

function* batches(items) {
  let batch = [], size = 0;
  for (const item of items) {
    if (batch.length && (batch.length >= BATCH_INPUTS || size + item.file.size > BATCH_BYTES)) {
      yield batch;
      batch = [];
      size = 0;
    }
    batch.push(item);
    size += item.file.size;
  }
  if (batch.length) yield batch;
}

/** Poll embed jobs until all ended; the bar shows inputs handled of all inputs. */
async function followEmbedding(jobIds, progress, signal) {
  for (;;) {
    const jobs = await Promise.all(jobIds.map((id) => api("GET", `/v1/jobs/${enc(id)}`, { signal }).then((b) => b.job)));
    const done = jobs.reduce((n, j) => n + (j.progress?.done || 0), 0);
    const total = jobs.reduce((n, j) => n + (j.progress?.total || 0), 0) || 1;
    const ended = jobs.every((j) => ["succeeded", "failed", "cancelled"].includes(j.status));
    if (!ended) {
      progress.update({ fraction: done / total, message: `Embedding: ${done} of ${total} inputs` });
      await sleep(400, signal);
      continue;
    }
    const embedded = jobs.reduce((n, j) => n + (j.result?.embedded || 0), 0);
    const failed = jobs.reduce((n, j) => n + (j.result?.failed || 0), 0);
    const bad = jobs.find((j) => j.status !== "succeeded");
    if (bad) {
      progress.update({ fraction: done / total, state: "failed",
                        message: `Embed job ${bad.status}: ${bad.error?.message || ""}` });
    } else {
      progress.update({ fraction: 1, state: "succeeded",
                        message: `Added ${total} input${total > 1 ? "s" : ""}: ${embedded} embedded${failed ? `, ${failed} failed (see their cards)` : ""}.` });
    }
    return jobs;
  }
}

// --- browsing ----------------------------------------------------------------------------
function browsePanel(names, signal) {
  const concept = h("select", { id: "filter-concept" },
    h("option", { value: "", text: "All concepts" }), names.map((n) => h("option", { value: n, text: n })));
  const status = h("select", { id: "filter-status" },
    ["", "pending", "embedded", "failed"].map((s) => h("option", { value: s, text: s || "Any status" })));
  const grid = h("ul", { class: "grid", id: "inputs-grid", "aria-live": "polite" });
  const errors = h("div", { id: "browse-error" });
  const prev = h("button", { type: "button", id: "prev-page", class: "ghost" }, "← Previous");
  const next = h("button", { type: "button", id: "next-page", class: "ghost" }, "Next →");
  const where = h("span", { class: "muted", id: "page-number" });
  // One list of known concepts for every card's "+ label" field.
  const suggestions = h("datalist", { id: "label-suggestions" }, names.map((n) => h("option", { value: n })));
  let tokens = [null]; // tokens[n]: the page_token of page n (API page tokens are opaque)
  let page = 0;

  async function load(n) {
    showError(errors, null);
    grid.setAttribute("aria-busy", "true");
    try {
      const body = await api("GET", "/v1/inputs", { signal, query: {
        limit: PAGE, concept: concept.value, status: status.value, page_token: tokens[n] } });
      page = n;
      tokens = tokens.slice(0, n + 1);
      if (body.next_page_token) tokens.push(body.next_page_token);
      replace(grid, body.inputs.length ? body.inputs.map((i) => inputCard(i, names)) :
        h("li", { class: "empty muted", text: n ? "No more inputs." : "No inputs here yet: drop some files above." }));
      prev.disabled = page === 0;
      next.disabled = !body.next_page_token;
      where.textContent = `Page ${page + 1}`;
    } catch (err) {
      showError(errors, err);
    } finally {
      grid.removeAttribute("aria-busy");
    }
  }
  const restart = () => { tokens = [null]; return load(0); };
  concept.addEventListener("change", restart);
  status.addEventListener("change", restart);
  prev.addEventListener("click", () => load(Math.max(0, page - 1)));
  next.addEventListener("click", () => load(page + 1));

  const el = h("section", { class: "card", id: "browse", "aria-labelledby": "browse-title" },
    h("div", { class: "row-between" },
      h("h2", { id: "browse-title", text: "Browse" }),
      h("div", { class: "filters" },
        h("label", { for: "filter-concept", class: "sr-only", text: "Concept" }), concept,
        h("label", { for: "filter-status", class: "sr-only", text: "Status" }), status,
        h("button", { type: "button", class: "ghost", id: "refresh", onclick: () => load(page) }, "Refresh"))),
    errors, suggestions, grid,
    h("nav", { class: "pager", "aria-label": "Pages" }, prev, where, next));
  return {
    el,
    reload: async () => {
      // New concepts may have come with the upload: offer them as filters.
      const { concepts } = await api("GET", "/v1/concepts", { signal }).catch(() => ({ concepts: [] }));
      for (const c of concepts) {
        if (!names.includes(c.id)) {
          names.push(c.id);
          concept.append(h("option", { value: c.id, text: c.id }));
          suggestions.append(h("option", { value: c.id }));
        }
      }
      return restart();
    },
  };
}

function describe(input) {
  const d = input.data || {};
  if (d.image) {
    const m = d.image;
    return m.url ? `image URL · ${host(m.url)}` : `${m.format} ${m.width}×${m.height} · ${bytes(m.bytes)}`;
  }
  if (d.video) {
    const m = d.video;
    if (m.url) return `video URL · ${host(m.url)}`;
    const secs = m.duration_seconds ? `${m.duration_seconds.toFixed(1)} s · ` : "";
    return `video · ${secs}${m.width}×${m.height}${input.frames ? ` · ${input.frames} frames` : ""} · ${bytes(m.bytes)}`;
  }
  return "text";
}

function host(u) {
  try { return new URL(u).host; } catch { return u; }
}

function thumbnail(input) {
  const d = input.data || {};
  if (d.text !== undefined) return h("blockquote", { class: "thumb text", text: d.text });
  const kept = recall(input);
  const url = d.image && d.image.url && /^https?:/i.test(d.image.url) ? d.image.url : null;
  const placeholder = () => h("div", { class: "thumb placeholder" },
    h("span", { class: "kind", text: d.video ? "video" : "image" }),
    h("span", { text: describe(input) }));
  if (!kept && !url) return placeholder();
  const img = h("img", { class: "thumb", src: kept || url, alt: describe(input), loading: "lazy",
                         referrerpolicy: "no-referrer" });
  img.addEventListener("error", () => img.replaceWith(placeholder()), { once: true });
  return img;
}

/** One input: picture or text, id, status, and labels that can be edited in place. */
function inputCard(input, names) {
  const card = h("li", { class: "input-card", dataset: { id: input.id, status: input.status } });
  const errors = h("div", { class: "card-error" });

  async function patch(body) {
    showError(errors, null);
    try {
      const { input: updated } = await api("PATCH", `/v1/inputs/${enc(input.id)}`, { json: body });
      card.replaceWith(inputCard(updated, names));
    } catch (err) {
      showError(errors, err);
    }
  }

  const chips = h("ul", { class: "chips", "aria-label": `Labels of ${input.id}` },
    input.concepts.map((c) => h("li", { class: `chip${c.value ? "" : " negative"}`, dataset: { concept: c.id, value: c.value },
                                        title: c.value ? `positive for ${c.id}` : `negative for ${c.id}` },
      c.value ? c.id : `not ${c.id}`,
      h("button", { type: "button", class: "chip-x", "aria-label": `Remove label ${c.id} from ${input.id}`,
                    onclick: () => patch({ action: "remove", concepts: [{ id: c.id }] }) }, "×"))));

  const add = h("button", { type: "button", class: "ghost small add-label",
                            "aria-label": `Add a label to ${input.id}` }, "+ label");
  add.addEventListener("click", () => {
    const field = h("input", { type: "text", class: "label-field", list: "label-suggestions",
                               "aria-label": `New label for ${input.id} (prefix with - for a negative)`,
                               placeholder: "concept, -concept" });
    field.addEventListener("blur", () => { if (!field.value.trim() && field.isConnected) field.replaceWith(add); });
    field.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { field.value = ""; field.replaceWith(add); add.focus(); return; }
      if (e.key !== "Enter") return;
      e.preventDefault();
      const negative = /^[-!]/.test(field.value.trim());
      const id = field.value.trim().replace(/^[-!]/, "");
      if (!ID_RE.test(id)) return showError(errors, { message: `"${id}" is not a valid concept id`, code: "invalid_field" });
      patch({ concepts: [{ id, value: negative ? 0 : 1 }] });
    });
    add.replaceWith(field);
    field.focus();
  });

  return replace(card,
    thumbnail(input),
    h("div", { class: "card-meta" },
      h("code", { class: "input-id", text: input.id, title: input.id }),
      badge(input.status, input.error ? `${input.error.code}: ${input.error.message}` : undefined)),
    input.error ? h("p", { class: "field-error", text: input.error.message }) : null,
    h("div", { class: "labels" }, chips, add),
    errors);
}
