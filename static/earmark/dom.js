// One small element builder for the pages' scripts: el("div", { class: "x", dataset: {...},
// onclick: fn, text: "..." }, ...children). null/undefined/false attributes and children are
// left out, true gives an empty attribute.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// A select or checkbox changed with the mouse lets the focus go afterwards: it kept it, and the
// page's next hotkey went to it (a digit changed the speed select instead of labeling; Space
// and A did nothing on the review page). One reached with the keyboard keeps its focus.
export function releaseAfterPointerChange(scope = document) {
  let pressed = null;
  scope.addEventListener("pointerdown", (e) => { pressed = e.target; }, true);
  scope.addEventListener("keydown", () => { pressed = null; }, true);
  scope.addEventListener("change", (e) => {
    const t = e.target;
    const control = t.tagName === "SELECT" || (t.tagName === "INPUT" && t.type === "checkbox");
    if (control && pressed && (pressed === t || t.contains(pressed) || pressed.contains?.(t))) t.blur();
    pressed = null;
  }, true);
}
