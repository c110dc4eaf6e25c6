// The console's shell: hash routes, sign-in guard, header. Each view renders into
// <main> and gets an AbortSignal that fires when the user navigates away, which
// stops its polling and drops its late answers.

import { session } from "./api.js";
import { announce, errorBox, replace } from "./dom.js";
import { inputsView } from "./views/inputs.js";
import { modelView } from "./views/model.js";
import { modelsView } from "./views/models.js";
import { signInView } from "./views/signin.js";
import { versionView } from "./views/version.js";

const ROUTES = [
  [/^\/signin$/, signInView, "signin", "Sign in"],
  [/^\/inputs$/, inputsView, "inputs", "Inputs"],
  [/^\/models$/, modelsView, "models", "Models"],
  [/^\/models\/([^/]+)$/, modelView, "models", "Model"],
  [/^\/models\/([^/]+)\/versions\/([^/]+)$/, versionView, "models", "Version"],
];

const main = document.getElementById("main");
let current = null; // the AbortController of the view on screen

function shell() {
  const signedIn = Boolean(session.key);
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("who").hidden = !signedIn;
  document.getElementById("who-app").textContent = session.app || "";
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  const path = (location.hash.replace(/^#/, "") || "/").split("?")[0];
  if (!session.key && path !== "/signin") {
    sessionStorage.setItem("headstart.next", path === "/" ? "/inputs" : path);
    return go("#/signin");
  }
  if (path === "/" || (session.key && path === "/signin")) return go("#/inputs");
  current?.abort();
  current = new AbortController();
  shell();
  const match = ROUTES.find(([re]) => re.test(path));
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (match && a.dataset.nav === match[2]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!match) {
    replace(main, errorBox({ message: `No page at ${path}.`, code: "not_found" }));
    return;
  }
  const [re, view, , title] = match;
  const params = path.match(re).slice(1).map(decodeURIComponent);
  document.title = `${title}${params.length ? ` ${params.join(" / ")}` : ""} · Headstart console`;
  replace(main);
  main.dataset.view = match[2];
  try {
    await view(main, params, current.signal);
  } catch (err) {
    if (err.name !== "AbortError") replace(main, errorBox(err));
  }
  // Move focus to the new page for keyboard and screen-reader users (unless the view
  // focused a field of its own, as sign-in does).
  if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
  announce(document.title);
}

document.getElementById("sign-out").addEventListener("click", () => {
  session.signOut();
  go("#/signin");
});

window.addEventListener("headstart:unauthorized", () => {
  if (!session.key) return;
  session.signOut();
  sessionStorage.setItem("headstart.signin-message",
                         "The API refused this key (revoked or rotated?). Sign in again.");
  go("#/signin");
});

window.addEventListener("hashchange", route);
route();
