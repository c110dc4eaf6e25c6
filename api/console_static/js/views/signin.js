// Sign in with an app's API key. The key is checked with GET /v1/apps/me (cheap, and
// it names the app) before it is kept in sessionStorage.

import { api, session } from "../api.js";
import { h, showError } from "../dom.js";

export async function signInView(main) {
  const key = h("input", { id: "api-key", type: "password", autocomplete: "off", spellcheck: "false",
                           required: true, placeholder: "hsk_…", "aria-describedby": "api-key-hint" });
  const errors = h("div", { id: "signin-error" });
  const button = h("button", { type: "submit", id: "sign-in" }, "Sign in");
  const notice = sessionStorage.getItem("headstart.signin-message");
  sessionStorage.removeItem("headstart.signin-message");

  const form = h("form", { class: "card narrow", id: "signin-form", novalidate: true,
                           "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title", text: "Sign in" }),
    notice ? h("p", { class: "notice", role: "status", text: notice }) : null,
    h("div", { class: "field" },
      h("label", { for: "api-key", text: "API key" }), key,
      h("span", { class: "hint", id: "api-key-hint",
                  text: "An app's key, as POST /v1/apps or headstart app create printed it. It stays in this tab (sessionStorage) and is only sent in the Authorization header." })),
    errors,
    h("div", { class: "actions" }, button));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = key.value.trim();
    if (!value) {
      key.focus();
      return showError(errors, { message: "Enter an API key.", code: "missing_key" });
    }
    button.disabled = true;
    showError(errors, null);
    try {
      const { app } = await api("GET", "/v1/apps/me", { key: value });
      session.signIn(value, app.id);
      const next = sessionStorage.getItem("headstart.next") || "/inputs";
      sessionStorage.removeItem("headstart.next");
      location.hash = `#${next}`;
    } catch (err) {
      showError(errors, err);
      key.select();
      key.focus();
    } finally {
      button.disabled = false;
    }
  });
  main.append(form);
  key.focus();
}
