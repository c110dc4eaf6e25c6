// A concept tag input: type an id, Enter (or comma, or Tab with text) makes a chip;
// Backspace in the empty field removes the last chip; each chip has a remove button.

import { h, replace } from "./dom.js";

// The API's id rule (docs/api.md, Limits): checked here so a typo is caught at once.
export const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * @param {{id: string, label: string, hint?: string, suggestions?: string[], value?: string[],
 *          onChange?: (tags: string[]) => void}} opts
 * @returns {{el: HTMLElement, get: () => (string[]|null), set: (tags: string[]) => void, commit: () => boolean}}
 */
export function tagInput({ id, label, hint, suggestions = [], value = [], onChange }) {
  let tags = [...value];
  const listId = `${id}-list`;
  const chips = h("span", { class: "chips" });
  const problem = h("span", { class: "field-error", id: `${id}-error`, "aria-live": "polite" });
  const field = h("input", { id, type: "text", list: listId, autocomplete: "off",
                             "aria-describedby": `${id}-hint ${id}-error`,
                             placeholder: tags.length ? "" : "e.g. cat" });
  const datalist = h("datalist", { id: listId }, suggestions.map((s) => h("option", { value: s })));
  const box = h("div", { class: "tags", onclick: (e) => { if (e.target === box) field.focus(); } },
                chips, field);

  function render() {
    replace(chips, tags.map((t) => h("span", { class: "chip", dataset: { concept: t } }, t,
      h("button", { type: "button", class: "chip-x", "aria-label": `Remove concept ${t}`,
                    onclick: () => { remove(t); field.focus(); } }, "×"))));
    field.placeholder = tags.length ? "" : "e.g. cat";
    onChange?.([...tags]);
  }

  function remove(t) {
    tags = tags.filter((x) => x !== t);
    render();
  }

  /** Turn the field's text into chips; false (with a message) when it is not an id. */
  function commit() {
    const parts = field.value.split(/[,\s]+/).map((s) => s.trim()).filter(Boolean);
    const bad = parts.filter((p) => !ID_RE.test(p));
    if (bad.length) {
      problem.textContent = `"${bad[0]}" is not a valid concept id (letters, digits, _ . - ; starts with a letter or digit)`;
      field.setAttribute("aria-invalid", "true");
      return false;
    }
    problem.textContent = "";
    field.removeAttribute("aria-invalid");
    for (const p of parts) if (!tags.includes(p)) tags.push(p);
    field.value = "";
    if (parts.length) render();
    return true;
  }

  field.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === "," || (e.key === "Tab" && field.value.trim())) {
      if (field.value.trim()) { e.preventDefault(); commit(); }
      else if (e.key === "Enter") e.preventDefault(); // Enter in an empty field: no form submit
    } else if (e.key === "Backspace" && !field.value && tags.length) {
      remove(tags[tags.length - 1]);
    }
  });
  field.addEventListener("blur", () => commit());
  // Picking a datalist suggestion fires input without a key: make it a chip at once.
  field.addEventListener("input", (e) => {
    if (!e.inputType && suggestions.includes(field.value)) commit();
  });

  const el = h("div", { class: "field" },
    h("label", { for: id, text: label }),
    box, datalist,
    h("span", { class: "hint", id: `${id}-hint`, text: hint || "Enter or comma adds a concept." }),
    problem);
  render();
  return {
    el,
    // null when the field holds text that is not an id (the message is shown).
    get: () => (commit() ? [...tags] : null),
    set: (t) => { tags = [...t]; render(); },
    commit,
  };
}
