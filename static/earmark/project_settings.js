// A project's settings (leads): name, description, label and annotation modes, annotations
// wanted per clip, leaf labels only. The fields changed here are saved with PATCH
// /api/projects/<id>/; the server's
// message shows when it refuses (a name taken, a number out of range). Rules that saved
// annotations break (409 rules_conflict) are listed, with a button to save them anyway.
import { api } from "./api.js";
import { FIELD_WORDS, saidAsForm } from "./project_fields.js";


function value(f, name) {
  if (name === "name") return f.name.value.trim();
  if (name === "leaves_only") return f.leaves_only.checked;
  if (name === "annotations_per_clip" || name === "target_sample_rate") return f[name].value === "" ? null : Number(f[name].value);
  return f[name].value;
}

function show(f, saved) {
  for (const name of Object.keys(FIELD_WORDS)) {
    if (!(name in saved)) continue;
    if (name === "leaves_only") f.leaves_only.checked = Boolean(saved.leaves_only);
    else f[name].value = saved[name] ?? "";
  }
}

function setup(root) {
  const form = root.querySelector("form");
  const status = root.querySelector("[data-testid=settings-status]");
  const conflict = root.querySelector("[data-testid=settings-conflict]");
  // Only the settings changed on this page are sent: a Save sent every field, and undid what
  // another lead had changed since the page loaded (a description fixed here switched the
  // project back to single-label).
  const edited = new Set();
  form.addEventListener("input", (e) => { if (e.target.name in FIELD_WORDS) edited.add(e.target.name); });
  form.addEventListener("change", (e) => { if (e.target.name in FIELD_WORDS) edited.add(e.target.name); });
  const save = async (force) => {
    const f = form.elements;
    const body = { force };
    for (const name of edited) body[name] = value(f, name);
    conflict.hidden = true;
    status.className = "";
    if (body.annotations_per_clip === null || body.target_sample_rate === null) {
      status.className = "error";
      status.textContent = body.annotations_per_clip === null
        ? "Not saved: Annotations wanted per clip: enter a number from 1 to 20."
        : "Not saved: Sample rate of the model's features: enter a number of Hz from 1000 to 384000.";
      return;
    }
    status.textContent = "Saving…";
    try {
      const changed = edited.size > 0;
      const saved = await api(`/api/projects/${root.dataset.project}/`, { method: "PATCH", body });
      edited.clear();
      show(f, saved); // what the project is now, others' changes included
      status.textContent = changed ? "Saved." : "Nothing was changed here; the form shows the project's settings now.";
      document.title = document.title.replace(/^[^·]*/, `${saved.name} `);
      const heading = document.querySelector("[data-testid=project-name]");
      if (heading) heading.textContent = saved.name;
      const danger = document.getElementById("delete-project"); // its confirmation takes the name
      if (danger) {
        danger.dataset.name = saved.name;
        const named = danger.querySelector("strong");
        if (named) named.textContent = saved.name;
      }
    } catch (err) {
      status.className = "error";
      if (err.body && err.body.code === "rules_conflict") {
        status.textContent = "Not saved: saved annotations do not follow the new settings.";
        const list = conflict.querySelector("ul");
        list.replaceChildren(...err.body.conflicts.map((line) => {
          const item = document.createElement("li");
          item.textContent = line;
          return item;
        }));
        conflict.hidden = false;
      } else {
        status.textContent = `Not saved: ${saidAsForm(err.message || "the request failed")}`;
      }
    }
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); save(false); });
  conflict.querySelector("button").addEventListener("click", () => save(true));
}

const root = document.getElementById("project-settings");
if (root) setup(root);
