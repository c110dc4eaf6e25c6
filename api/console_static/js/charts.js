// Charts drawn with plain elements and SVG: concept bars, the confusion matrix as a
// heat map, the precision/recall curve, and a video's per-frame concept timeline.

import { colour, h, pct, svg } from "./dom.js";

/** A hex colour with an alpha, for cells whose strength is a value in 0..1. */
function tint(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha.toFixed(3)})`;
}

/**
 * Concepts as horizontal bars, highest first (the API's order).
 * @param {{id: string, name: string, value: number}[]} concepts
 * @param {(id: string) => string} colourOf
 */
export function conceptBars(concepts, colourOf) {
  return h("ol", { class: "bars" }, concepts.map((c, i) =>
    h("li", { class: i === 0 ? "top" : "", dataset: { concept: c.id, value: c.value },
              "aria-label": `${c.name}: ${pct(c.value)}` },
      h("span", { class: "bar-name", text: c.name, title: c.id }),
      h("span", { class: "bar-track" },
        h("span", { class: "bar-fill", style: { width: `${(c.value * 100).toFixed(1)}%`,
                                               background: colourOf(c.id) } })),
      h("span", { class: "bar-value", text: pct(c.value) }))));
}

/**
 * An exclusive model's k×k confusion matrix as a table whose cells are shaded by
 * their share of the row (rows: true concept, columns: predicted).
 */
export function heatmap(labels, matrix) {
  const head = h("tr", {}, h("th", { scope: "col", class: "corner" }, "true ↓ · predicted →"),
                 labels.map((l) => h("th", { scope: "col", text: l })));
  const rows = matrix.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    return h("tr", {}, h("th", { scope: "row", text: labels[i] }), row.map((n, j) => {
      const share = n / total;
      return h("td", {
        class: `${i === j ? "diag" : "off"}${share > 0.55 ? " dark" : ""}`,
        dataset: { true: labels[i], predicted: labels[j], count: n },
        title: `true ${labels[i]}, predicted ${labels[j]}: ${n} (${pct(share)} of ${labels[i]})`,
        style: { background: tint(i === j ? "#1f6feb" : "#d9480f", 0.08 + 0.92 * share) },
      }, String(n));
    }));
  });
  return h("table", { class: "heatmap", id: "confusion" },
    h("caption", { text: "Confusion matrix: rows are the true concept, columns the predicted one; shade is the share of the row." }),
    h("thead", {}, head), h("tbody", {}, rows));
}

/** One-vs-rest models: a 2×2 matrix per concept (tp/fn over fp/tn at 0.5), shaded
 * like the k×k one: by the cell's share of its row. */
export function binaryMatrices(confusion) {
  return h("div", { class: "binary-matrices", id: "confusion" }, Object.entries(confusion).map(([c, m]) => {
    const cell = (n, rowTotal, good, what) => {
      const share = n / (rowTotal || 1);
      return h("td", {
        class: `${good ? "diag" : "off"}${share > 0.55 ? " dark" : ""}`, title: `${what}: ${n} (${pct(share)} of the row)`,
        dataset: { count: n },
        style: { background: tint(good ? "#1f6feb" : "#d9480f", 0.08 + 0.92 * share) },
      }, String(n));
    };
    const positives = m.tp + m.fn, negatives = m.fp + m.tn;
    return h("table", { class: "heatmap small", dataset: { concept: c } },
      h("caption", { text: c }),
      h("thead", {}, h("tr", {}, h("th", { class: "corner" }, "true ↓ · predicted →"),
                        h("th", { scope: "col" }, "yes"), h("th", { scope: "col" }, "no"))),
      h("tbody", {},
        h("tr", {}, h("th", { scope: "row" }, "yes"), cell(m.tp, positives, true, "true positives"),
          cell(m.fn, positives, false, "false negatives")),
        h("tr", {}, h("th", { scope: "row" }, "no"), cell(m.fp, negatives, false, "false positives"),
          cell(m.tn, negatives, true, "true negatives"))));
  }));
}

/**
 * Precision and recall against the threshold, with a cursor at the chosen one.
 * @param {{thresholds: number[], precision: (number|null)[], recall: (number|null)[]}} curve
 * @returns {{el: SVGElement, setThreshold: (t: number) => void}}
 */
export function prChart(curve) {
  const W = 360, H = 190, L = 36, R = 18, T = 10, B = 28;
  const x = (t) => L + t * (W - L - R);
  const y = (v) => T + (1 - v) * (H - T - B);
  const line = (values, cls) => {
    // Undefined points (nothing predicted) break the line instead of dropping to 0.
    const parts = [];
    let cur = [];
    values.forEach((v, i) => {
      if (v === null) { if (cur.length) parts.push(cur); cur = []; } else cur.push(`${x(curve.thresholds[i]).toFixed(1)},${y(v).toFixed(1)}`);
    });
    if (cur.length) parts.push(cur);
    return parts.map((p) => svg("polyline", { class: cls, points: p.join(" ") }));
  };
  const grid = [0, 0.25, 0.5, 0.75, 1].map((v) => [
    svg("line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }),
    svg("text", { class: "tick", x: L - 6, y: y(v) + 4, "text-anchor": "end" }, document.createTextNode(v.toFixed(2))),
    svg("text", { class: "tick", x: x(v), y: H - 10, "text-anchor": "middle" }, document.createTextNode(v.toFixed(2))),
  ]);
  const cursor = svg("line", { class: "cursor", y1: T, y2: H - B });
  const pDot = svg("circle", { class: "dot precision", r: 4 });
  const rDot = svg("circle", { class: "dot recall", r: 4 });
  const el = svg("svg", { class: "pr-chart", viewBox: `0 0 ${W} ${H}`, role: "img",
                          "aria-label": "Precision and recall against the score threshold" },
    // Recall under precision, wider and paler: where they coincide both stay visible.
    grid, line(curve.recall, "recall"), line(curve.precision, "precision"), cursor, rDot, pDot,
    svg("text", { class: "tick", x: (L + W - R) / 2, y: H - 0.5, "text-anchor": "middle" },
        document.createTextNode("threshold")));
  return {
    el,
    setThreshold(t) {
      const i = nearest(curve.thresholds, t);
      cursor.setAttribute("x1", x(curve.thresholds[i]));
      cursor.setAttribute("x2", x(curve.thresholds[i]));
      for (const [dot, v] of [[pDot, curve.precision[i]], [rDot, curve.recall[i]]]) {
        dot.setAttribute("visibility", v === null ? "hidden" : "visible");
        dot.setAttribute("cx", x(curve.thresholds[i]));
        dot.setAttribute("cy", y(v ?? 0));
      }
    },
  };
}

/** Index of the grid point closest to t. */
export function nearest(grid, t) {
  let best = 0;
  grid.forEach((g, i) => { if (Math.abs(g - t) < Math.abs(grid[best] - t)) best = i; });
  return best;
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(ms % 1000 ? 1 : 0)} s`;
}

/**
 * A video's frames over time: one strip per concept (shade = value) and a strip of
 * the top concept per frame.
 * @param {{time_ms: number, concepts: {id: string, name: string, value: number}[]}[]} frames
 * @param {string[]} order  concept ids in the model's order (for stable colours)
 */
export function timeline(frames, order) {
  const seen = new Map();
  for (const f of frames) for (const c of f.concepts) if (!seen.has(c.id)) seen.set(c.id, c.name);
  const ids = [...order.filter((id) => seen.has(id)), ...[...seen.keys()].filter((id) => !order.includes(id))];
  const colourOf = (id) => colour(Math.max(0, order.indexOf(id) >= 0 ? order.indexOf(id) : ids.indexOf(id)));
  const columns = { gridTemplateColumns: `repeat(${frames.length}, minmax(6px, 1fr))` };
  const value = (f, id) => (f.concepts.find((c) => c.id === id) || { value: 0 }).value;

  const top = h("div", { class: "strip top-strip", style: columns }, frames.map((f) => {
    const best = f.concepts[0];
    return h("span", { class: "cell", dataset: { time: f.time_ms, concept: best ? best.id : "" },
                       title: best ? `${seconds(f.time_ms)}: ${best.name} ${pct(best.value)}` : seconds(f.time_ms),
                       style: { background: best ? colourOf(best.id) : "transparent" } },
                 best ? best.name : "");
  }));
  const strips = ids.map((id) => h("div", { class: "row" },
    h("span", { class: "row-label", text: seen.get(id) }),
    h("div", { class: "strip", style: columns, dataset: { concept: id } }, frames.map((f) =>
      h("span", { class: "cell", title: `${seconds(f.time_ms)}: ${seen.get(id)} ${pct(value(f, id))}`,
                  dataset: { time: f.time_ms, value: value(f, id) },
                  style: { background: tint(colourOf(id), 0.06 + 0.94 * value(f, id)) } })))));
  const last = frames.length ? frames[frames.length - 1].time_ms : 0;
  const step = Math.max(1, Math.ceil(frames.length / 8)); // at most ~8 time labels
  return h("figure", { class: "timeline", id: "timeline" },
    h("figcaption", { text: `Per-frame concepts over ${seconds(last)} (${frames.length} sampled frames)` }),
    h("div", { class: "row" }, h("span", { class: "row-label", text: "top" }), top),
    strips,
    h("div", { class: "row axis" }, h("span", { class: "row-label" }),
      h("div", { class: "strip ticks", style: columns }, frames.map((f, i) =>
        h("span", { text: i % step === 0 ? seconds(f.time_ms) : "" })))),
    h("ol", { class: "sr-only" }, frames.map((f) =>
      h("li", { text: `${seconds(f.time_ms)}: ${f.concepts[0] ? `${f.concepts[0].name} ${pct(f.concepts[0].value)}` : "no concept"}` }))));
}
