// A project's settings (leads): name, description, label and annotation modes, annotations
// wanted per clip, leaf labels only. Saved with PATCH /api/projects/<id>/; the server's
// message shows when it refuses (a name taken, a number out of range).
import { api } from "./api.js";

function setup(root) {
  const form = root.querySelector("form");
  const status = root.querySelector("[data-testid=settings-status]");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = form.elements;
    const body = {
      name: f.name.value.trim(),
      description: f.description.value,
      label_mode: f.label_mode.value,
      annotation_mode: f.annotation_mode.value,
      annotations_per_clip: Number(f.annotations_per_clip.value),
      leaves_only: f.leaves_only.checked,
    };
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
      status.textContent = `Not saved: ${err.message}`;
    }
  });
}

const root = document.getElementById("project-settings");
if (root) setup(root);
