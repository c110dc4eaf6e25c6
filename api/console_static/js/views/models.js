// Models: the app's models, and a form to create one (concepts, what it learns from,
// head options).

import { api, enc } from "../api.js";
import { h, showError, when } from "../dom.js";
import { ID_RE, tagInput } from "../tags.js";

export async function modelsView(main, _params, signal) {
  const [{ models }, { concepts }, { embedders }] = await Promise.all([
    api("GET", "/v1/models", { signal }),
    api("GET", "/v1/concepts", { signal }),
    api("GET", "/v1/embedders", { signal }),
  ]);
  main.append(
    h("h1", { text: "Models" }),
    createForm(concepts.map((c) => c.id), embedders),
    h("section", { class: "card", "aria-labelledby": "models-title" },
      h("h2", { id: "models-title", text: "Your models" }),
      models.length ? modelsTable(models)
        : h("p", { class: "muted", text: "No model yet: create one above." })));
}

function modelsTable(models) {
  return h("table", { class: "data", id: "models-table" },
    h("thead", {}, h("tr", {}, ["Model", "Concepts", "Embedder", "Default version", "Created"].map(
      (t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, models.map((m) => h("tr", { dataset: { model: m.id } },
      h("th", { scope: "row" }, h("a", { href: `#/models/${enc(m.id)}`, text: m.id })),
      h("td", { text: m.concepts.join(", ") }),
      h("td", { text: m.embedder }),
      h("td", {}, m.default_version
        ? h("a", { href: `#/models/${enc(m.id)}/versions/${enc(m.default_version)}`, text: m.default_version })
        : h("span", { class: "muted", text: "none yet" })),
      h("td", { text: when(m.created_at) })))));
}

function createForm(names, embedders) {
  const id = h("input", { id: "model-id", type: "text", required: true, autocomplete: "off",
                          placeholder: "e.g. pets", pattern: ID_RE.source });
  const tags = tagInput({ id: "model-concepts", label: "Concepts", suggestions: names,
                          hint: "The concepts it predicts, in output order. Enter or comma adds one." });
  const learnsFrom = h("select", { id: "model-embedder" },
    h("option", { value: "modality:text", text: "Texts (the app's text embedder)" }),
    h("option", { value: "modality:image", text: "Images and videos (the app's image embedder)" }),
    embedders.map((e) => h("option", { value: `embedder:${e.id}`,
                                       text: `Embedder ${e.id} (${e.modalities.join(", ")})` })));
  const exclusive = h("input", { id: "model-exclusive", type: "checkbox", checked: true });
  const closed = h("input", { id: "model-closed", type: "checkbox", checked: true });
  const closedField = h("div", { class: "check", hidden: true }, closed,
    h("label", { for: "model-closed", text: "Closed environment: an input positive for another concept counts as a negative" }));
  exclusive.addEventListener("change", () => { closedField.hidden = exclusive.checked; });
  const errors = h("div", { id: "model-error" });
  const button = h("button", { type: "submit", id: "model-create" }, "Create model");

  const form = h("form", { class: "card", id: "model-form", novalidate: true, "aria-labelledby": "create-title" },
    h("h2", { id: "create-title", text: "Create a model" }),
    h("div", { class: "cols" },
      h("div", { class: "field" }, h("label", { for: "model-id", text: "Model id" }), id,
        h("span", { class: "hint", text: "Letters, digits, _ . - (up to 128)." })),
      h("div", { class: "field" }, h("label", { for: "model-embedder", text: "Learns from" }), learnsFrom,
        h("span", { class: "hint", text: "A model trains on the inputs of one embedder." }))),
    tags.el,
    h("div", { class: "check" }, exclusive,
      h("label", { for: "model-exclusive", text: "Each input is exactly one of these concepts (mutually exclusive: softmax)" })),
    closedField,
    errors,
    h("div", { class: "actions" }, button));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(errors, null);
    const concepts = tags.get();
    if (concepts === null) return;
    if (!ID_RE.test(id.value.trim())) {
      id.focus();
      return showError(errors, { message: "Give the model an id: letters, digits, _ . - (starting with a letter or digit).", code: "invalid_field", details: { field: "id" } });
    }
    const [kind, value] = learnsFrom.value.split(/:(.*)/s);
    const body = { id: id.value.trim(), concepts,
                   options: { mutually_exclusive: exclusive.checked,
                              ...(exclusive.checked ? {} : { closed_environment: closed.checked }) },
                   ...(kind === "modality" ? { modality: value } : { embedder: value }) };
    button.disabled = true;
    try {
      const { model } = await api("POST", "/v1/models", { json: body });
      location.hash = `#/models/${enc(model.id)}`;
    } catch (err) {
      showError(errors, err);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
