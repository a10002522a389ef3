// A project's settings (leads): name, description, label and annotation modes, annotations
// wanted per clip, leaf labels only. Saved with PATCH /api/projects/<id>/; the server's
// message shows when it refuses (a name taken, a number out of range). Rules that saved
// annotations break (409 rules_conflict) are listed, with a button to save them anyway.
import { api } from "./api.js";

function setup(root) {
  const form = root.querySelector("form");
  const status = root.querySelector("[data-testid=settings-status]");
  const conflict = root.querySelector("[data-testid=settings-conflict]");
  const save = async (force) => {
    const f = form.elements;
    const body = {
      name: f.name.value.trim(),
      description: f.description.value,
      label_mode: f.label_mode.value,
      annotation_mode: f.annotation_mode.value,
      annotations_per_clip: Number(f.annotations_per_clip.value),
      leaves_only: f.leaves_only.checked,
      force,
    };
    conflict.hidden = true;
    status.className = "";
    status.textContent = "Saving…";
    try {
      const saved = await api(`/api/projects/${root.dataset.project}/`, { method: "PATCH", body });
      status.textContent = "Saved.";
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
        status.textContent = `Not saved: ${err.message}`;
      }
    }
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); save(false); });
  conflict.querySelector("button").addEventListener("click", () => save(true));
}

const root = document.getElementById("project-settings");
if (root) setup(root);
