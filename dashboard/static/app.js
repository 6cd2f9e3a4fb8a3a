// Progressive enhancement for server-rendered pages: live list updates, filters that apply on
// change, and the live log stream. Every page works (minus liveness) without this script.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function liveList() {
  const rows = document.getElementById("rows");
  if (!rows || !window.EventSource) return;
  const filters = document.getElementById("filters");
  const refresh = () => {
    const query = new URLSearchParams(new FormData(filters)).toString();
    fetch(rows.dataset.source + "?" + query, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
      .then((html) => { rows.innerHTML = html; })
      .catch(() => {});
  };
  let pending = null;
  const source = new EventSource(rows.dataset.events);
  source.addEventListener("changed", () => {
    clearTimeout(pending);
    pending = setTimeout(refresh, 150); // one refresh per burst of watch events
  });
  source.addEventListener("open", () => { document.getElementById("live").hidden = false; });
  filters.addEventListener("change", () => {
    history.replaceState(null, "", "?" + new URLSearchParams(new FormData(filters)));
    refresh();
  });
}

function liveLog() {
  const picker = document.getElementById("logpicker");
  const out = document.getElementById("log");
  const target = document.getElementById("log-target");
  if (!picker || !out || !target || !target.value) return;
  const follow = document.getElementById("log-follow");
  let source = null;
  const open = () => {
    if (source) source.close();
    out.textContent = "";
    const [pod, container] = target.value.split("/");
    const query = new URLSearchParams({ pod, container, follow: follow.checked ? "1" : "0" });
    source = new EventSource(picker.dataset.source + "?" + query);
    source.addEventListener("line", (e) => {
      const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
      out.append(e.data + "\n");
      if (atEnd) out.scrollTop = out.scrollHeight;
    });
    source.addEventListener("failure", (e) => {
      out.append("[log unavailable: " + JSON.parse(e.data).message + "]\n");
      source.close();
    });
    source.addEventListener("end", () => { out.append("[end of log]\n"); source.close(); });
  };
  target.addEventListener("change", open);
  follow.addEventListener("change", open);
  open();
}

window.catalyst = { csrfToken };
document.addEventListener("DOMContentLoaded", () => { liveList(); liveLog(); });
