// "Metadata from file names" on the project page (leads): a pattern such as
// {digit}_{speaker}_{take}, previewed on the project's clips, then applied. Browser uploads bring
// no metadata, and a manifest export grouped by speaker said "the clips have no metadata".
import { api } from "./api.js";

const root = document.querySelector("[data-testid=name-metadata]");
if (root) {
  const form = root.querySelector("form");
  const said = root.querySelector("[data-testid=name-metadata-said]");
  const apply = root.querySelector("[data-testid=name-metadata-apply]");
  const url = `/api/projects/${root.dataset.project}/clips/metadata-from-names/`;
  const describe = (r, done) => {
    const example = r.matched_examples[0];
    const shown = example ? ` e.g. ${example.file} → ${r.fields.map((f) => `${f} ${example.fields[f]}`).join(" · ")}.` : "";
    const missed = r.unmatched ? ` ${r.unmatched} did not match (${r.unmatched_examples.join(", ")}${r.unmatched > r.unmatched_examples.length ? ", …" : ""}): they keep their metadata.` : "";
    return `${r.matched} clip${r.matched === 1 ? "" : "s"} match${r.matched === 1 ? "es" : ""};${shown}${missed} ${done ? `Set on ${r.changed} clip${r.changed === 1 ? "" : "s"}${r.changed < r.matched ? " (the others had it already)" : ""}.` : r.changed ? `Apply sets it on ${r.changed}.` : "Every matching clip has it already."}`;
  };
  const run = async (dryRun) => {
    apply.disabled = true;
    said.classList.remove("error");
    said.textContent = dryRun ? "Reading the names…" : "Setting…";
    try {
      const r = await api(url, { method: "POST", body: { pattern: form.pattern.value, dry_run: dryRun } });
      said.textContent = describe(r, !dryRun);
      apply.disabled = !dryRun || !r.changed;
    } catch (err) {
      said.classList.add("error");
      said.textContent = `Not read: ${err.message}`;
    }
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); run(true); });
  form.pattern.addEventListener("input", () => { apply.disabled = true; });
  apply.addEventListener("click", () => run(false));
}
