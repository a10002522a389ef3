// Talking to Earmark's REST API from the browser: session auth plus Django's CSRF token.

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// A request without a live session (signed out in another tab, or the session ended): the
// server's "Authentication credentials were not provided." said nothing of what to do.
export const SIGNED_OUT = "you are signed out (in another tab, or the session ended): sign in again, then try again; your work on this page is kept";

export class ApiError extends Error {
  constructor(status, body) {
    super(status === 401 ? SIGNED_OUT : (body && body.detail) || `request failed with status ${status}`);
    this.status = status;
    this.body = body;
  }
}

export async function api(path, { method = "GET", body, signal, headers: extra = {} } = {}) {
  const headers = { Accept: "application/json", ...extra };
  const init = { method, headers, credentials: "same-origin", signal };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    headers["X-CSRFToken"] = csrfToken();
    init.body = JSON.stringify(body);
  } else if (method !== "GET") {
    headers["X-CSRFToken"] = csrfToken();
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    error.retryAfter = response.headers.get("Retry-After");
    // A server error names its request id, as the error page does: what an administrator
    // finds in the logs ("request failed with status 500" gave them nothing to look for).
    const rid = response.headers.get("X-Request-ID");
    if (response.status >= 500 && response.status !== 503 && rid) {
      error.requestId = rid;
      error.message = `the server failed (error ${response.status}; request id ${rid}): try again, and if it goes on, give the id to an administrator`;
    }
    // Removed from the project while the page is open: said once by the page (the workspace
    // stops asking), not "try again" after every request.
    if (data && data.code === "not_a_member") window.dispatchEvent(new CustomEvent("earmark:not-a-member", { detail: error.message }));
    throw error;
  }
  return data;
}

// A JSON request that outlives the page (an autosave or a report sent as it is left):
// fire and forget, within the browser's 64 kB for such requests.
export function sendKeepalive(path, method, body) {
  fetch(path, {
    method, keepalive: true, credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  }).catch(() => {});
}

// A key that names one submission: a retry with the same key is saved at most once.
// (crypto.randomUUID needs a secure context; getRandomValues works on plain http too.)
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// POST that survives a database restart or a dropped connection: on 503 (or no answer) it
// waits Retry-After seconds and sends the same request, with the same Idempotency-Key.
export async function apiRetrying(path, { body, key = newIdempotencyKey(), attempts = 5, onRetry = () => {} } = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api(path, { method: "POST", body, headers: { "Idempotency-Key": key } });
    } catch (err) {
      const transient = err.status === 503 || !(err instanceof ApiError);
      if (!transient || attempt >= attempts) throw err;
      const wait = err instanceof ApiError ? Number(err.retryAfter) || 2 : 2;
      onRetry(attempt, wait, err);
      await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 30) * 1000));
    }
  }
}

// Multipart upload with progress events (fetch has no upload progress).
export function uploadFiles(path, files, fields = {}, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const file of files) form.append("files", file, file.name);
    for (const [key, value] of Object.entries(fields)) form.append(key, value);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      resolve({ status: xhr.status, data });
    };
    xhr.onerror = () => reject(new ApiError(0, { detail: "network error during upload" }));
    xhr.send(form);
  });
}
