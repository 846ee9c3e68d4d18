// The recordings page: the folder's recordings with their status, analyse, upload.
"use strict";
const message = document.getElementById("message");

async function refresh() {
  const rows = await apiJSON("/api/recordings");
  const body = document.querySelector("#recordings tbody");
  body.replaceChildren(
    ...rows.map((r) => {
      const status = r.status + (r.stage ? " (" + r.stage + ")" : "") + (r.error ? ": " + r.error : "");
      const action = element("button", { onclick: () => analyse(r.name) }, r.analysed ? "analyse again" : "analyse");
      if (r.status === "queued" || r.status === "running") action.disabled = true;
      return element(
        "tr",
        { "data-name": r.name },
        element("td", {}, r.analysed ? element("a", { href: "/recordings/" + encodeURIComponent(r.name) }, r.name) : r.name),
        element("td", { class: "status-" + r.status }, status),
        element("td", {}, r.beats === undefined ? "" : r.beats.toLocaleString()),
        element("td", { class: r.review_recommended ? "review-recommended" : "", title: adaptedTitle(r) }, adaptedText(r)),
        element("td", {}, action),
      );
    }),
  );
  return rows;
}

// How much the adaptation changed the network's labels; a recording it changed much is the one to review first.
function adaptedText(r) {
  if (r.adaptation_changed_percent === undefined || r.adaptation_changed_percent === null) return "";
  const changed = r.adaptation_changed_percent.toFixed(1) + "% changed";
  return r.review_recommended ? changed + ": review recommended" : changed;
}

// The threshold this recording was analysed with (the adaptation setting review_above_percent).
function adaptedTitle(r) {
  if (r.review_above_percent === undefined || r.review_above_percent === null) return "";
  return "review recommended above " + r.review_above_percent + "% changed";
}

async function analyse(name) {
  try {
    await apiJSON("/api/recordings/" + encodeURIComponent(name) + "/analyse", { method: "POST" });
  } catch (error) {
    message.textContent = error.message;
  }
  refresh();
}

document.getElementById("upload").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  if (!form.get("fs")) form.delete("fs");
  try {
    const done = await apiJSON("/api/recordings", { method: "POST", body: form });
    message.textContent = "uploaded " + done.names.join(", ");
  } catch (error) {
    message.textContent = error.message;
  }
  refresh();
});

async function poll() {
  try {
    const rows = await refresh();
    const busy = rows.some((r) => r.status === "queued" || r.status === "running");
    setTimeout(poll, busy ? 1000 : 5000);
  } catch (error) {
    message.textContent = error.message;
    setTimeout(poll, 5000);
  }
}
poll();
