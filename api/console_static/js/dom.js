// Small DOM helpers. Everything is built with createElement and textContent, never
// innerHTML, so data from the API (ids, texts, error messages) cannot become markup.

/**
 * Create an element.
 * @param {string} tag
 * @param {object} [attrs]  attributes; `class`, `text`, `on<event>` (functions),
 *                           `dataset` (object), `style` (object, set through CSSOM:
 *                           the CSP forbids style attributes, not CSSOM)
 * @param {...(Node|string|number|null|undefined|Array)} children
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style") Object.assign(el.style, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const SVG = "http://www.w3.org/2000/svg";
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) if (c) el.append(c);
  return el;
}

/** Announce a message to screen readers (the polite live region of the page). */
export function announce(text) {
  const live = document.getElementById("live");
  if (live) live.textContent = text;
}

/** An inline error box for an ApiError (or any Error): message, code, field. */
export function errorBox(err) {
  const field = err.details && err.details.field;
  return h("div", { class: "error", role: "alert" },
    h("strong", { text: err.message || String(err) }),
    err.code ? h("span", { class: "code" }, " ", h("code", { text: err.code }),
                 field ? ` · ${field}` : "") : null);
}

/** Show an error in a slot (or clear the slot with err = null). */
export function showError(slot, err) {
  if (!err) return replace(slot);
  if (err.name === "AbortError") return slot;
  return replace(slot, errorBox(err));
}

/**
 * A progress bar: determinate (fraction 0..1) or indeterminate (fraction null).
 * role=progressbar with aria-valuenow, so assistive tech and tests read the same value.
 */
export function progressBar(label) {
  const fill = h("div", { class: "fill" });
  const bar = h("div", { class: "bar", role: "progressbar", "aria-label": label,
                          "aria-valuemin": 0, "aria-valuemax": 100 }, fill);
  const text = h("div", { class: "progress-text" });
  const el = h("div", { class: "progress" }, bar, text);
  return {
    el,
    update({ fraction = null, message = "", state = "running" }) {
      el.dataset.state = state;
      if (fraction === null) {
        bar.removeAttribute("aria-valuenow");
        bar.classList.add("indeterminate");
        fill.style.width = "";
      } else {
        const pct = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
        bar.setAttribute("aria-valuenow", String(pct));
        bar.classList.remove("indeterminate");
        fill.style.width = `${pct}%`;
      }
      bar.setAttribute("aria-valuetext", message);
      text.textContent = message;
    },
  };
}

export function fmt(v, digits = 2) {
  return v === null || v === undefined || Number.isNaN(v) ? "—" : Number(v).toFixed(digits);
}

export function pct(v) {
  return v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`;
}

export function bytes(n) {
  if (n === null || n === undefined) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function when(ts) {
  return ts ? new Date(ts * 1000).toLocaleString() : "—";
}

/** A status badge (pending / embedded / failed / trained / ...). */
export function badge(status, title) {
  return h("span", { class: `badge s-${status}`, title }, status);
}

// Concept colours: distinct hues, in the model's concept order.
const PALETTE = ["#1f6feb", "#d9480f", "#2f9e44", "#9c36b5", "#e8590c", "#0c8599",
                 "#c2255c", "#5c940d", "#364fc7", "#a61e4d"];
export function colour(index) {
  return PALETTE[index % PALETTE.length];
}
