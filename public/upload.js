// Image uploads from the browser: tus 1.0 (creation, offset, append, termination) against
// /api/v1/uploads, in chunks, with a progress bar (bytes, rate, time left), cancel, and resume
// after a dropped connection from the server's committed offset. Imports by URL are started
// here too and followed by polling the upload's status. Listeners sit on the document, so the
// page may be rendered, hydrated or re-rendered in any order.

const CHUNK = 8 * 1024 * 1024;
const TUS = { "Tus-Resumable": "1.0.0" };
const MAX_RETRY_DELAY = 30000;

const fmtBytes = (n) => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
};
const fmtTime = (s) => {
  if (!isFinite(s)) return "—";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h ? `${h} h ${m} min` : m ? `${m} min ${sec} s` : `${sec} s`;
};
const b64 = (text) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));

function ui(form) {
  const part = (role) => form.querySelector(`[data-role="${role}"]`);
  return {
    status(text, kind = "") {
      const el = part("status");
      el.textContent = text;
      el.dataset.kind = kind;
      el.className = "text-sm " + (kind === "error" ? "text-rose-600 dark:text-rose-400"
        : kind === "done" ? "text-emerald-700 dark:text-emerald-400" : "");
    },
    progress(done, total, rate) {
      part("progress").hidden = false;
      const percent = total ? Math.min(100, (done * 100) / total) : 0;
      part("bar").style.width = `${percent.toFixed(1)}%`;
      const left = rate > 0 && total ? (total - done) / rate : Infinity;
      part("numbers").textContent = total
        ? `${fmtBytes(done)} of ${fmtBytes(total)} (${percent.toFixed(0)}%) · ${fmtBytes(rate)}/s · ${fmtTime(left)} left`
        : `${fmtBytes(done)} · ${fmtBytes(rate)}/s`;
    },
    clearErrors() {
      form.querySelectorAll("[data-error-for]").forEach((el) => { el.hidden = true; el.classList.add("hidden"); el.textContent = ""; });
    },
    // Shows a JSON API error: each field's message at its field, else in the status line.
    apiError(error) {
      let placed = false;
      for (const f of error.fields || []) {
        const el = form.querySelector(`[data-error-for="${f.field}"]`);
        if (el) { el.textContent = f.message; el.hidden = false; el.classList.remove("hidden"); placed = true; }
      }
      this.status(placed ? "Please correct the fields marked above." : error.error || "The upload failed.", "error");
    },
    buttons({ start, resume, cancel }) {
      part("start").disabled = !start;
      if (part("resume")) part("resume").hidden = !resume;
      if (part("cancel")) part("cancel").hidden = !cancel;
    },
  };
}

async function readError(response) {
  try { return await response.json(); } catch { return { error: `${response.status} ${response.statusText}` }; }
}

/// One file upload on one form.
class Upload {
  constructor(form) {
    this.form = form;
    this.ui = ui(form);
    this.file = form.elements.file.files[0];
    this.key = `baas-upload:${form.elements.name.value}:${this.file.name}:${this.file.size}:${this.file.lastModified}`;
    this.url = localStorage.getItem(this.key);
    this.offset = 0;
    this.xhr = null;
    this.retries = 0;
    this.resumes = 0;
    this.timer = null;
    this.stopped = false;
    this.sessionStart = performance.now();
    this.sessionBase = 0;
  }

  async start() {
    this.ui.clearErrors();
    this.ui.buttons({ start: false, resume: false, cancel: true });
    if (this.url) {
      const head = await fetch(this.url, { method: "HEAD", headers: TUS, credentials: "same-origin" });
      if (head.ok) {
        this.offset = Number(head.headers.get("Upload-Offset"));
        this.ui.status(`Resuming an earlier upload of this file at ${fmtBytes(this.offset)}.`);
      } else {
        this.url = null;
      }
    }
    if (!this.url) {
      const f = this.form.elements;
      const meta = [["name", f.name.value], ["description", f.description.value], ["visibility", f.visibility.value],
        ["group", f.group.value], ["sha256", f.sha256.value], ["filename", this.file.name]]
        .map(([k, v]) => `${k} ${b64(v)}`).join(",");
      const created = await fetch("/api/v1/uploads", {
        method: "POST",
        credentials: "same-origin",
        headers: { ...TUS, "Upload-Length": String(this.file.size), "Upload-Metadata": meta },
      });
      if (created.status !== 201) {
        this.ui.apiError(await readError(created));
        this.ui.buttons({ start: true });
        return;
      }
      this.url = created.headers.get("Location");
      localStorage.setItem(this.key, this.url);
      this.ui.status("Uploading…");
    }
    this.sessionStart = performance.now();
    this.sessionBase = this.offset;
    this.send();
  }

  rate(done) {
    const seconds = (performance.now() - this.sessionStart) / 1000;
    return seconds > 0.2 ? (done - this.sessionBase) / seconds : 0;
  }

  send() {
    if (this.stopped) return;
    const end = Math.min(this.offset + CHUNK, this.file.size);
    const xhr = new XMLHttpRequest();
    this.xhr = xhr;
    xhr.open("PATCH", this.url);
    xhr.setRequestHeader("Tus-Resumable", "1.0.0");
    xhr.setRequestHeader("Upload-Offset", String(this.offset));
    xhr.setRequestHeader("Content-Type", "application/offset+octet-stream");
    xhr.upload.onprogress = (e) => {
      const done = this.offset + e.loaded;
      this.ui.progress(done, this.file.size, this.rate(done));
    };
    xhr.onload = () => {
      if (xhr.status === 204) {
        this.retries = 0;
        this.offset = Number(xhr.getResponseHeader("Upload-Offset"));
        this.ui.progress(this.offset, this.file.size, this.rate(this.offset));
        const image = xhr.getResponseHeader("Image-Id");
        if (image) return this.finished(image);
        return this.send();
      }
      if (xhr.status === 409) return this.resync();
      let error;
      try { error = JSON.parse(xhr.responseText); } catch { error = { error: `${xhr.status} ${xhr.statusText}` }; }
      this.failed(error);
    };
    xhr.onerror = xhr.ontimeout = () => this.interrupted();
    xhr.send(this.file.slice(this.offset, end));
  }

  // The connection dropped: keep what the server committed and try again with backoff.
  interrupted() {
    if (this.stopped) return;
    const delay = Math.min(1000 * 2 ** this.retries, MAX_RETRY_DELAY);
    this.retries++;
    this.ui.status(`Connection lost at ${fmtBytes(this.offset)}; resuming in ${Math.round(delay / 1000)} s…`, "error");
    this.form.dataset.interruptions = String(Number(this.form.dataset.interruptions || 0) + 1);
    this.ui.buttons({ start: false, resume: true, cancel: true });
    this.timer = setTimeout(() => this.resync(), delay);
  }

  // Asks the server where the upload stands and continues from there.
  async resync() {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.ui.buttons({ start: false, resume: false, cancel: true });
    try {
      const head = await fetch(this.url, { method: "HEAD", headers: TUS, credentials: "same-origin" });
      if (!head.ok) return this.failed({ error: "The server no longer has this upload; start again." });
      this.offset = Number(head.headers.get("Upload-Offset"));
      this.resumes++;
      this.form.dataset.resumes = String(this.resumes);
      this.ui.status(`Resumed at ${fmtBytes(this.offset)}.`);
      this.sessionStart = performance.now();
      this.sessionBase = this.offset;
      this.send();
    } catch {
      this.interrupted();
    }
  }

  finished(imageId) {
    localStorage.removeItem(this.key);
    this.ui.buttons({ start: true });
    this.ui.progress(this.file.size, this.file.size, this.rate(this.file.size));
    const status = this.form.querySelector('[data-role="status"]');
    this.ui.status("Uploaded. ", "done");
    const link = document.createElement("a");
    link.href = `/images/${imageId}`;
    link.className = "underline";
    link.textContent = "Open the image";
    link.dataset.testid = "uploaded-image";
    status.append(link);
    current = null;
  }

  failed(error) {
    localStorage.removeItem(this.key);
    this.ui.apiError(error);
    this.ui.buttons({ start: true });
    current = null;
  }

  async cancel() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.xhr) this.xhr.abort();
    localStorage.removeItem(this.key);
    if (this.url) await fetch(this.url, { method: "DELETE", headers: TUS, credentials: "same-origin" });
    this.ui.status("Cancelled; nothing was kept.");
    this.ui.buttons({ start: true });
    current = null;
  }
}

let current = null;

async function startImport(form) {
  const view = ui(form);
  view.clearErrors();
  view.buttons({ start: false });
  view.status("Asking the source…");
  const f = form.elements;
  const response = await fetch("/api/v1/imports", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ url: f.url.value, name: f.name.value, description: f.description.value,
      visibility: f.visibility.value, group: f.group.value, sha256: f.sha256.value }),
  });
  if (response.status !== 202) {
    view.apiError(await readError(response));
    view.buttons({ start: true });
    return;
  }
  const upload = await response.json();
  const started = performance.now();
  view.status("Downloading on the server…");
  const poll = async () => {
    const r = await fetch(`/api/v1/uploads/${upload.id}`, { credentials: "same-origin" });
    if (!r.ok) { view.apiError(await readError(r)); view.buttons({ start: true }); return; }
    const u = await r.json();
    const seconds = (performance.now() - started) / 1000;
    view.progress(u.received, u.length || 0, seconds > 0 ? u.received / seconds : 0);
    if (u.state === "done") {
      view.status("Imported. ", "done");
      const link = document.createElement("a");
      link.href = `/images/${u.image_id}`;
      link.className = "underline";
      link.textContent = "Open the image";
      form.querySelector('[data-role="status"]').append(link);
      view.buttons({ start: true });
    } else if (u.state === "failed") {
      view.status(u.error || "The import failed.", "error");
      view.buttons({ start: true });
    } else {
      setTimeout(poll, 500);
    }
  };
  poll();
}

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-upload]");
  if (!form) return;
  event.preventDefault();
  if (form.dataset.upload === "url") {
    startImport(form).catch((e) => ui(form).status(String(e), "error"));
    return;
  }
  if (!form.elements.file.files.length) {
    const el = form.querySelector('[data-error-for="file"]');
    el.textContent = "Choose a file.";
    el.hidden = false;
    el.classList.remove("hidden");
    return;
  }
  current = new Upload(form);
  current.start().catch((e) => current && current.interrupted(e));
});

document.addEventListener("click", (event) => {
  const button = event.target.closest("form[data-upload] [data-role]");
  if (!button || !current) return;
  if (button.dataset.role === "cancel") current.cancel();
  if (button.dataset.role === "resume") current.resync();
});

// Tell the tests (and curious people) that the upload code is ready.
document.documentElement.dataset.uploadReady = "true";
