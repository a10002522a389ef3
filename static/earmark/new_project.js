// A site admin's "New project" form on the project list: POST /api/projects/, then the new
// project's page (before, projects were made in the Django admin or from a shell).
import { api } from "./api.js";
import { saidAsForm } from "./project_fields.js";

const form = document.querySelector("[data-testid=new-project]");
if (form) {
  const status = form.querySelector("[data-testid=new-project-status]");
  const create = form.querySelector("button[type=submit]");
  // An answer is about what was sent: an edit since takes it away.
  form.addEventListener("input", () => { status.className = ""; status.textContent = ""; });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (create.disabled) return; // one request at a time: a double press sent two
    const f = form.elements;
    status.className = "";
    status.textContent = "Creating…";
    create.disabled = true;
    try {
      const project = await api("/api/projects/", { method: "POST", body: {
        name: f.name.value.trim(),
        description: f.description.value,
        label_mode: f.label_mode.value,
        annotation_mode: f.annotation_mode.value,
        target_sample_rate: Number(f.target_sample_rate.value),
        annotations_per_clip: Number(f.annotations_per_clip.value),
        leaves_only: f.leaves_only.checked,
      } });
      window.location.assign(`/projects/${project.id}/`);
    } catch (err) {
      status.className = "error";
      status.textContent = saidAsForm(err.message || "The project could not be created.");
      create.disabled = false;
    }
  });
}
