// Draws min/max peaks (from GET /api/clips/<id>/peaks) on a canvas. No audio is decoded here.

export function drawPeaks(canvas, peaks, { color = "#4f7cff", background = "#10131a" } = {}) {
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = background;
  ctx.fillRect(0, 0, width, height);
  const n = peaks.min.length;
  if (!n) return;
  const mid = height / 2;
  ctx.fillStyle = color;
  const step = width / n;
  for (let i = 0; i < n; i++) {
    const top = mid - peaks.max[i] * mid;
    const bottom = mid - peaks.min[i] * mid;
    ctx.fillRect(i * step, top, Math.max(step, 1), Math.max(bottom - top, 1));
  }
  ctx.fillStyle = "rgba(255,255,255,0.15)";
  ctx.fillRect(0, mid, width, 1);
}

export async function fetchPeaks(clipId, { start = 0, end, width }) {
  const params = new URLSearchParams({ start: String(start), width: String(Math.max(1, Math.round(width))) });
  if (end !== undefined) params.set("end", String(end));
  const response = await fetch(`/api/clips/${clipId}/peaks?${params}`, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`peaks: HTTP ${response.status}`);
  return response.json();
}
