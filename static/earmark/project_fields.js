// A project's settings as its two forms name them (the new-project form and the settings
// form): the server's messages name the API's fields ("annotations_per_clip: Ensure this
// value..."), which no lead sees; said with the forms' words.
export const FIELD_WORDS = {
  name: "Name", description: "Description", label_mode: "Labels per clip",
  annotation_mode: "What annotators mark", annotations_per_clip: "Annotations wanted per clip",
  leaves_only: "Leaf labels only", target_sample_rate: "Sample rate of the model's features",
};

export function saidAsForm(text) {
  let out = text;
  for (const [field, word] of Object.entries(FIELD_WORDS)) out = out.replaceAll(`${field}: `, `${word}: `);
  return out;
}
