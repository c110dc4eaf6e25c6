// One model: its concepts and options, "train a new version" with a live progress
// bar, its versions (pin one as default), and the predict box.

import { api, enc } from "../api.js";
import { badge, fmt, h, progressBar, replace, showError, when } from "../dom.js";
import { predictBox } from "../predict.js";
import { followTrain } from "../training.js";

export async function modelView(main, [modelId], signal) {
  const [{ model }, { embedders }] = await Promise.all([
    api("GET", `/v1/models/${enc(modelId)}`, { signal }),
    api("GET", "/v1/embedders", { signal }),
  ]);
  const modalities = embedders.find((e) => e.id === model.embedder)?.modalities ?? null;
  const versionsSlot = h("div", { id: "versions" });
  const predictSlot = h("div", { id: "predict-slot" });
  const trainErrors = h("div", { id: "train-error" });
  const trainStatus = h("div", { id: "train-status" });
  const trainButton = h("button", { type: "button", id: "train" }, "Train a new version");

  async function refresh() {
    const [{ model: m }, { versions }] = await Promise.all([
      api("GET", `/v1/models/${enc(modelId)}`, { signal }),
      api("GET", `/v1/models/${enc(modelId)}/versions`, { signal }),
    ]);
    replace(versionsSlot, versions.length ? versionsTable(m, versions, refresh)
      : h("p", { class: "muted", text: "No version yet: train one." }));
    replace(predictSlot, m.default_version ? predictBox({ model: m, modalities, signal })
      : h("p", { class: "muted card", text: "Train a version to try the model here." }));
    return versions;
  }

  async function follow(version, jobId) {
    const progress = progressBar(`Training version ${version}`);
    replace(trainStatus, progress.el);
    trainButton.disabled = true;
    try {
      const job = await followTrain(jobId, progress, signal);
      await refresh();
      if (job.status === "succeeded") {
        trainStatus.append(h("p", {}, h("a", { id: "open-version", href: `#/models/${enc(modelId)}/versions/${enc(version)}` },
                                          `Open version ${version} →`)));
      }
    } catch (err) {
      showError(trainErrors, err);
    } finally {
      trainButton.disabled = false;
    }
  }

  trainButton.addEventListener("click", async () => {
    showError(trainErrors, null);
    trainButton.disabled = true;
    try {
      const { version, job } = await api("POST", `/v1/models/${enc(modelId)}/versions`, { json: {}, signal });
      refresh().catch(() => {}); // the new version shows as queued at once
      await follow(version.id, job.id);
    } catch (err) {
      showError(trainErrors, err);
      trainButton.disabled = false;
    }
  });

  main.append(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumbs" }, h("a", { href: "#/models", text: "Models" }), " / ", model.id),
    h("h1", { text: model.id }),
    h("section", { class: "card", "aria-label": "Model" },
      h("dl", { class: "facts" },
        h("dt", { text: "Concepts" }), h("dd", {}, h("ul", { class: "chips" }, model.concepts.map((c) => h("li", { class: "chip", text: c })))),
        h("dt", { text: "Embedder" }), h("dd", { text: `${model.embedder}${modalities ? ` (${modalities.join(", ")})` : ""}` }),
        h("dt", { text: "Head" }), h("dd", { text: model.options.mutually_exclusive
          ? "mutually exclusive (softmax)"
          : `one-vs-rest (sigmoids), ${model.options.closed_environment ? "closed" : "open"} environment` }),
        h("dt", { text: "Created" }), h("dd", { text: when(model.created_at) }))),
    h("section", { class: "card", "aria-labelledby": "train-title" },
      h("div", { class: "row-between" },
        h("h2", { id: "train-title", text: "Versions" }), trainButton),
      h("p", { class: "hint", text: "A version trains on every embedded input of this model's embedder labelled with its concepts, and is evaluated by k-fold cross-validation." }),
      trainErrors, trainStatus, versionsSlot),
    predictSlot);

  const versions = await refresh();
  // A version still training (started elsewhere, or before a reload): follow its job.
  const busy = versions.find((v) => v.status === "queued" || v.status === "training");
  if (busy && busy.job_id) follow(busy.id, busy.job_id);
}

function versionsTable(model, versions, refresh) {
  const errors = h("div", { id: "pin-error" });
  const metric = (v, k) => (v.metrics && v.metrics.status === "ok" ? fmt(v.metrics[k], 3) : "—");
  return h("div", {}, errors, h("table", { class: "data", id: "versions-table" },
    h("thead", {}, h("tr", {}, ["Version", "Status", "Accuracy", "Macro F1", "Macro ROC AUC", "Examples", "Trained", "Default"]
      .map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, versions.map((v) => h("tr", { dataset: { version: v.id, status: v.status } },
      h("th", { scope: "row" }, h("a", { href: `#/models/${enc(model.id)}/versions/${enc(v.id)}`, text: `Version ${v.id}` })),
      h("td", {}, badge(v.status, v.error ? `${v.error.code}: ${v.error.message}` : undefined)),
      h("td", { class: "num", text: metric(v, "accuracy") }),
      h("td", { class: "num", text: metric(v, "macro_f1") }),
      h("td", { class: "num", text: metric(v, "macro_roc_auc") }),
      h("td", { class: "num", text: v.counts ? v.counts.examples : "—" }),
      h("td", { text: when(v.trained_at) }),
      h("td", {}, model.default_version === v.id
        ? h("span", { class: "badge s-default", text: model.pinned_version === v.id ? "pinned" : "default" })
        : v.status === "trained"
          ? h("button", { type: "button", class: "ghost small", "aria-label": `Pin version ${v.id} as the default`,
                          onclick: async () => {
                            try {
                              await api("POST", `/v1/models/${enc(model.id)}/versions/${enc(v.id)}/pin`);
                              await refresh();
                            } catch (err) { showError(errors, err); }
                          } }, "Pin")
          : null))))));
}
