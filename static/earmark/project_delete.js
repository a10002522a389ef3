// Deleting a project from its page (leads): the button wakes only when the project's name is
// typed; the API hides the project at once and a worker removes its data and files.
import { api } from "./api.js";

function setup(root) {
  const input = root.querySelector("[data-testid=delete-project-name]");
  const button = root.querySelector("[data-testid=delete-project]");
  const status = root.querySelector("[data-testid=delete-project-status]");
  // Read at each keystroke: the settings form may have renamed the project meanwhile.
  input.addEventListener("input", () => { button.disabled = input.value.trim() !== root.dataset.name; });
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.className = "";
    status.textContent = "Deleting…";
    try {
      await api(`/api/projects/${root.dataset.project}/?confirm=${encodeURIComponent(input.value.trim())}`, {
        method: "DELETE",
      });
    } catch (err) {
      status.className = "error";
      status.textContent = `Could not delete: ${err.message}`;
      button.disabled = false;
      return;
    }
    status.textContent = "Project deleted. Taking you to your projects…";
    setTimeout(() => { window.location.href = "/"; }, 1200);
  });
}

const root = document.getElementById("delete-project");
if (root) setup(root);
