// A drop zone for files: drag and drop, or (keyboard and touch) a button that opens
// the hidden file input. Both paths end in the same onFiles callback.

import { h } from "./dom.js";

/**
 * @param {{id: string, title: string, hint?: string, accept?: string, multiple?: boolean,
 *          onFiles: (files: File[]) => void}} opts
 * @returns {{el: HTMLElement, input: HTMLInputElement, setDisabled: (on: boolean) => void}}
 */
export function dropZone({ id, title, hint, accept = "image/*,video/*", multiple = true, onFiles }) {
  const input = h("input", { type: "file", id: `${id}-input`, class: "sr-only", accept,
                             multiple, tabindex: -1, "aria-hidden": "true" });
  const zone = h("div", { class: "dropzone", id, role: "button", tabindex: 0,
                          "aria-describedby": `${id}-hint` },
    h("strong", { text: title }),
    h("span", { class: "hint", id: `${id}-hint`,
                text: hint || "Drop files here, or press Enter to choose them." }),
    input);

  const take = (list) => {
    const files = [...(list || [])];
    if (files.length && !zone.classList.contains("disabled")) onFiles(multiple ? files : files.slice(0, 1));
  };
  input.addEventListener("change", () => { take(input.files); input.value = ""; });
  input.addEventListener("click", (e) => e.stopPropagation());
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
  });
  // dragenter/over must cancel the default for drop to fire; a counter keeps the
  // highlight steady while the pointer crosses child elements.
  let depth = 0;
  zone.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; zone.classList.add("over"); });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); e.dataTransfer.dropEffect = "copy"; });
  zone.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; zone.classList.remove("over"); } });
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    zone.classList.remove("over");
    take(e.dataTransfer && e.dataTransfer.files);
  });
  return {
    el: zone,
    input,
    setDisabled(on) {
      zone.classList.toggle("disabled", on);
      zone.setAttribute("aria-disabled", on ? "true" : "false");
    },
  };
}

/** "image" or "video" for a file (by its type, else its extension); null otherwise. */
export function mediaKind(file) {
  if (file.type.startsWith("image/")) return "image";
  if (file.type.startsWith("video/")) return "video";
  const ext = (file.name.split(".").pop() || "").toLowerCase();
  if (["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"].includes(ext)) return "image";
  if (["mp4", "mov", "m4v", "webm", "mkv", "avi", "mpg", "mpeg", "ts", "flv", "ogv", "wmv", "asf"].includes(ext)) return "video";
  return null;
}
