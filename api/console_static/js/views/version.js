// One version: status and data counts, cross-validated metrics per concept, the
// confusion matrix as a heat map, a threshold slider showing precision and recall
// (from the version's `pr_curve`), and the predict box for this version.

import { api, enc } from "../api.js";
import { binaryMatrices, heatmap, nearest, prChart } from "../charts.js";
import { badge, errorBox, fmt, h, progressBar, replace, when } from "../dom.js";
import { predictBox } from "../predict.js";
import { followTrain } from "../training.js";

export async function versionView(main, [modelId, versionId], signal) {
  const [{ model }, { version }, { embedders }] = await Promise.all([
    api("GET", `/v1/models/${enc(modelId)}`, { signal }),
    api("GET", `/v1/models/${enc(modelId)}/versions/${enc(versionId)}`, { signal }),
    api("GET", "/v1/embedders", { signal }),
  ]);
  main.append(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumbs" },
      h("a", { href: "#/models", text: "Models" }), " / ",
      h("a", { href: `#/models/${enc(modelId)}`, text: modelId }), " / ", `version ${versionId}`),
    h("div", { class: "row-between" },
      h("h1", {}, `${modelId} · version ${versionId} `, badge(version.status))),
    summary(version));

  if (version.status === "queued" || version.status === "training") {
    const progress = progressBar(`Training version ${versionId}`);
    main.append(h("section", { class: "card" }, progress.el));
    await followTrain(version.job_id, progress, signal);
    replace(main);
    return versionView(main, [modelId, versionId], signal); // now trained or failed
  }
  if (version.status === "failed") {
    main.append(errorBox(version.error || { message: "training failed" }));
    return;
  }
  const metrics = version.metrics || {};
  if (metrics.status !== "ok") {
    main.append(h("section", { class: "card notice", id: "metrics" },
      h("h2", { text: "No cross-validated metrics" }),
      h("p", { text: metrics.reason || "This version could not be evaluated." })));
  } else {
    main.append(
      metricCards(metrics),
      h("div", { class: "two" },
        h("section", { class: "card", id: "metrics", "aria-labelledby": "per-concept-title" },
          h("h2", { id: "per-concept-title", text: "Per concept" }),
          conceptTable(version.concepts, metrics)),
        h("section", { class: "card", "aria-labelledby": "confusion-title" },
          h("h2", { id: "confusion-title", text: "Confusion matrix" }),
          Array.isArray(metrics.confusion_matrix?.matrix)
            ? heatmap(metrics.confusion_matrix.labels, metrics.confusion_matrix.matrix)
            : binaryMatrices(metrics.confusion_matrix || {}))),
      thresholdExplorer(version, metrics));
  }
  const modalities = embedders.find((e) => e.id === version.embedder)?.modalities ?? null;
  main.append(predictBox({ model: { ...model, concepts: version.concepts, embedder: version.embedder },
                           versionId, modalities, signal }));
}

function summary(v) {
  const c = v.counts || {};
  const p = v.params || {};
  const facts = [
    ["Trained", v.trained_at ? `${when(v.trained_at)} (${fmt(v.training_seconds, 1)} s)` : "—"],
    ["Embedder", v.embedder],
    ["Head", p.head ? `${p.head}, ${p.activation}${p.temperature ? `, temperature ${fmt(p.temperature)}` : ""}` : "—"],
    ["Examples", c.examples !== undefined ? `${c.examples} inputs (${c.rows} vectors)` : "—"],
    ["Positives", c.positives ? Object.entries(c.positives).map(([k, n]) => `${k} ${n}`).join(" · ") : "—"],
  ];
  if (c.zero_shot && c.zero_shot.length) facts.push(["Zero-shot", c.zero_shot.join(", ")]);
  if (v.description) facts.push(["Description", v.description]);
  return h("section", { class: "card", "aria-label": "Version" },
    h("dl", { class: "facts" }, facts.map(([k, val]) => [h("dt", { text: k }), h("dd", { text: val })])));
}

function metricCards(m) {
  const cards = [
    ["Accuracy", m.accuracy, "top concept right (exclusive models)"],
    ["Macro F1", m.macro_f1, "mean F1 over concepts"],
    ["Macro ROC AUC", m.macro_roc_auc, "mean ranking quality"],
    ["ECE", m.ece, "calibration error (lower is better)"],
  ].filter(([, v]) => v !== undefined);
  return h("section", { class: "stats", "aria-label": "Summary metrics" },
    cards.map(([label, value, hint]) => h("div", { class: "stat", title: hint },
      h("span", { class: "stat-value", text: fmt(value, 3) }), h("span", { class: "stat-label", text: label }))),
    h("div", { class: "stat" }, h("span", { class: "stat-value", text: `${m.folds}` }),
      h("span", { class: "stat-label", text: `folds · ${m.evaluated_rows} rows` })));
}

function conceptTable(concepts, metrics) {
  const cols = [["precision", "Precision"], ["recall", "Recall"], ["f1", "F1"], ["roc_auc", "ROC AUC"]];
  return h("table", { class: "data", id: "concept-metrics" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Concept" }),
      cols.map(([, t]) => h("th", { scope: "col", class: "num", text: t })),
      h("th", { scope: "col", class: "num", text: "Support" }),
      h("th", { scope: "col", class: "num", text: "Suggested threshold" }))),
    h("tbody", {}, concepts.filter((c) => metrics.concepts[c]).map((c) => {
      const m = metrics.concepts[c];
      return h("tr", { dataset: { concept: c } }, h("th", { scope: "row", text: c }),
        cols.map(([k]) => h("td", { class: "num" },
          h("span", { class: "cell-bar", style: { width: `${((m[k] ?? 0) * 100).toFixed(0)}%` } }),
          h("span", { class: "cell-value", text: fmt(m[k], 3) }))),
        h("td", { class: "num", text: m.support }),
        h("td", { class: "num", text: fmt(m.suggested_threshold, 3) }));
    })));
}

function thresholdExplorer(version, metrics) {
  const concepts = version.concepts.filter((c) => metrics.concepts[c]);
  const curved = concepts.filter((c) => metrics.concepts[c].pr_curve);
  const section = h("section", { class: "card", id: "threshold", "aria-labelledby": "threshold-title" },
    h("h2", { id: "threshold-title", text: "Threshold" }));
  if (!curved.length) {
    section.append(h("p", { class: "muted", text: "This version has no precision/recall curve (it was trained before curves were recorded): train a new version to explore thresholds." }));
    return section;
  }
  const select = h("select", { id: "threshold-concept" }, curved.map((c) => h("option", { value: c, text: c })));
  const slider = h("input", { id: "threshold-slider", type: "range", min: 0, max: 1, step: 0.05,
                              "aria-describedby": "threshold-readout" });
  const value = h("output", { id: "threshold-value", for: "threshold-slider" });
  const precision = h("strong", { id: "threshold-precision" });
  const recall = h("strong", { id: "threshold-recall" });
  const predicted = h("span", { id: "threshold-predicted" });
  const suggested = h("button", { type: "button", class: "ghost small", id: "threshold-suggested" });
  const chartSlot = h("div", { class: "chart" });
  let chart = null;
  let curve = null;

  function show() {
    const t = Number(slider.value);
    const i = nearest(curve.thresholds, t);
    value.textContent = t.toFixed(2);
    precision.textContent = fmt(curve.precision[i], 3);
    recall.textContent = fmt(curve.recall[i], 3);
    const n = curve.predicted ? curve.predicted[i] : null;
    predicted.textContent = n === null ? "" : `${n} held-out input${n === 1 ? "" : "s"} score at or above it`;
    slider.setAttribute("aria-valuetext", `${t.toFixed(2)}: precision ${fmt(curve.precision[i], 2)}, recall ${fmt(curve.recall[i], 2)}`);
    chart.setThreshold(t);
  }

  function pick() {
    const m = metrics.concepts[select.value];
    curve = m.pr_curve;
    chart = prChart(curve);
    replace(chartSlot, chart.el,
      h("p", { class: "legend" }, h("span", { class: "key precision" }), "precision ",
        h("span", { class: "key recall" }), "recall"));
    const best = m.suggested_threshold;
    suggested.hidden = best === null || best === undefined;
    suggested.textContent = `Go to the suggested threshold (${fmt(best, 3)})`;
    slider.value = String(best === null || best === undefined ? 0.5 : atOrBelow(curve.thresholds, best));
    show();
  }

  slider.addEventListener("input", show);
  select.addEventListener("change", pick);
  suggested.addEventListener("click", () => {
    slider.value = String(atOrBelow(curve.thresholds, metrics.concepts[select.value].suggested_threshold));
    show();
  });
  section.append(
    h("p", { class: "hint", text: version.options.mutually_exclusive
      ? "An input counts as this concept when its score for it reaches the threshold (the table above counts the top concept instead). Out-of-fold scores, sampled every 0.05."
      : "An input counts as this concept when its score reaches the threshold (the table above uses 0.5). Out-of-fold scores, sampled every 0.05." }),
    h("div", { class: "threshold-row" },
      h("div", { class: "threshold-controls" },
        h("div", { class: "field" }, h("label", { for: "threshold-concept", text: "Concept" }), select),
        h("div", { class: "field" },
          h("label", { for: "threshold-slider" }, "Threshold ", value), slider,
          h("p", { id: "threshold-readout", class: "readout", "aria-live": "polite" },
            "Precision ", precision, " · recall ", recall, h("br"), h("span", { class: "muted" }, predicted))),
        suggested),
      chartSlot));
  pick();
  return section;
}

/** The highest grid threshold at or below t: every input scoring t or more still counts
 * (rounding 0.997 up to 1.00 would count none). */
function atOrBelow(grid, t) {
  return grid.filter((g) => g <= t + 1e-9).pop() ?? grid[0];
}
