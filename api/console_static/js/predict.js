// The predict box: drop (or choose) an image or a video, or paste a text; shows the
// concepts as bars and, for a video, the per-frame timeline.

import { api, ApiError, enc, waitJob } from "./api.js";
import { conceptBars, timeline } from "./charts.js";
import { bytes, colour, errorBox, h, progressBar, replace, showError } from "./dom.js";
import { dropZone, mediaKind } from "./dropzone.js";
import { thumbnailOf } from "./thumbs.js";

/**
 * @param {{model: object, versionId?: string|null, modalities?: string[]|null, signal: AbortSignal}} opts
 *   modalities: what the model's embedder takes (GET /v1/embedders); null when unknown.
 */
export function predictBox({ model, versionId = null, modalities = null, signal }) {
  const path = versionId
    ? `/v1/models/${enc(model.id)}/versions/${enc(versionId)}/predict`
    : `/v1/models/${enc(model.id)}/predict`;
  const takes = (m) => !modalities || modalities.includes(m);
  const colourOf = (id) => colour(Math.max(0, model.concepts.indexOf(id)));
  const errors = h("div", { id: "predict-error" });
  const result = h("div", { id: "predict-result", class: "predict-result", "aria-live": "polite" });
  let run = 0; // a newer request makes the answer of an older one irrelevant

  async function predict(request, preview) {
    const mine = ++run;
    showError(errors, null);
    const progress = progressBar("Prediction");
    progress.update({ message: "Predicting…" });
    replace(result, preview, progress.el);
    try {
      let body = await api("POST", path, { ...request, signal });
      if (body.job) {
        // 202: the bounded wait ran out (a long video); the job's result is the answer.
        const job = await waitJob(body.job.id, (j) => progress.update({
          message: `Still working (job ${j.status})…` }), signal, 700);
        if (job.status !== "succeeded") {
          const e = job.error || {};
          throw new ApiError(500, e.code || job.status, e.message || `the predict job ${job.status}`);
        }
        body = job.result;
      }
      if (mine !== run) return;
      const out = body.outputs[0];
      replace(result, preview,
        h("p", { class: "muted", text: `Version ${body.model_version}` }),
        out.error ? errorBox(new ApiError(0, out.error.code, out.error.message))
                  : conceptBars(out.concepts, colourOf),
        out.frames ? timeline(out.frames, model.concepts) : null);
    } catch (err) {
      if (mine !== run || err.name === "AbortError") return;
      replace(result, preview);
      showError(errors, err);
    }
  }

  const sampleMs = h("input", { id: "predict-sample-ms", type: "number", min: 100, max: 60000,
                                step: 100, placeholder: "1000", inputmode: "numeric" });

  async function onFiles([file]) {
    const kind = mediaKind(file);
    if (!kind || !takes(kind)) {
      showError(errors, new ApiError(0, "unsupported_file", kind
        ? `This model's embedder (${model.embedder}) does not take ${kind}s.`
        : `${file.name} is not an image or a video.`));
      return;
    }
    const source = { file: "file" };
    if (kind === "video" && sampleMs.value) source.sample_ms = Number(sampleMs.value);
    const form = new FormData();
    form.append("json", JSON.stringify({ inputs: [{ id: file.name.slice(0, 128), data: { [kind]: source } }] }));
    form.append("file", file, file.name);
    const thumb = await thumbnailOf(file, kind);
    const preview = h("div", { class: "preview" },
      thumb ? h("img", { src: thumb, alt: "" }) : h("span", { class: "placeholder", text: kind }),
      h("span", {}, h("strong", { text: file.name }), h("br"), `${kind} · ${bytes(file.size)}`));
    predict({ form }, preview);
  }

  const drop = dropZone({ id: "predict-drop", title: "Drop an image or a video",
                          hint: "or press Enter to choose one", multiple: false, onFiles });
  drop.setDisabled(!takes("image") && !takes("video"));

  const text = h("textarea", { id: "predict-text", rows: 3, placeholder: "Paste or type a text",
                               disabled: !takes("text") });
  const goText = () => {
    if (!text.value.trim()) return showError(errors, new ApiError(0, "empty", "Type or paste a text first."));
    const preview = h("blockquote", { class: "preview-text", text: text.value.slice(0, 400) });
    predict({ json: { inputs: [{ data: { text: text.value } }] } }, preview);
  };
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); goText(); }
  });

  return h("section", { class: "card predict", id: "predict", "aria-labelledby": "predict-title" },
    h("h2", { id: "predict-title", text: versionId ? `Predict with version ${versionId}` : "Predict with the default version" }),
    h("div", { class: "predict-inputs" },
      h("div", {},
        drop.el,
        h("div", { class: "field inline" },
          h("label", { for: "predict-sample-ms", text: "Video: one frame every" }), sampleMs,
          h("span", { class: "hint", text: "ms" })),
        takes("image") || takes("video") ? null
          : h("p", { class: "hint", text: `${model.embedder} does not take images or videos.` })),
      h("div", { class: "field" },
        h("label", { for: "predict-text", text: "Or paste a text" }), text,
        h("div", { class: "actions" },
          h("button", { type: "button", id: "predict-text-go", onclick: goText, disabled: !takes("text") },
            "Predict text"),
          h("span", { class: "hint", text: takes("text") ? "Ctrl+Enter" : `${model.embedder} does not take texts.` })))),
    errors, result);
}
