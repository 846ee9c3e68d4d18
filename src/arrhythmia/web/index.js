// The recordings page: the folder's recordings with their status, analyse, upload.
"use strict";
const message = document.getElementById("message");
const typedRates = {}; // the sampling rates typed in, by recording, kept across the list's refreshes
let alreadyBusy = null; // the recording the message says is already queued or running: said until it is not

function sayBusy(name, text) {
  message.textContent = text;
  alreadyBusy = name;
}

async function refresh() {
  const rows = await apiJSON("/api/recordings");
  // "already running", left once it has finished, would say so of a recording long done
  const busy = (r) => r.status === "queued" || r.status === "running";
  if (alreadyBusy !== null && !rows.some((r) => r.name === alreadyBusy && busy(r))) {
    if (message.textContent.startsWith(alreadyBusy + ": already")) message.textContent = "";
    alreadyBusy = null;
  }
  const body = document.querySelector("#recordings tbody");
  if (document.activeElement && document.activeElement.matches("#recordings input")) return rows; // being typed in
  // Drawn again every few seconds: the keyboard's focus is kept on the link or button it was on.
  keepingFocus(body, () => body.replaceChildren(
    ...rows.map((r) => {
      const status = r.status + (r.stage ? " (" + r.stage + ")" : "") + (r.error ? ": " + r.error : "");
      // A file that does not say its sampling rate (a CSV without a time column, a .npy) is given it here.
      const rate = r.needs === "fs" ? element("input", { type: "number", step: "any", min: "20", placeholder: "Hz", class: "fs", "aria-label": "sampling rate, Hz", oninput: (e) => (typedRates[r.name] = e.target.value) }) : null;
      if (rate) rate.value = typedRates[r.name] || "";
      const action = element("button", { "data-focus": r.name + " analyse", "aria-label": `${r.analysed ? "analyse again" : "analyse"} ${r.name}`, onclick: () => (busy(r) ? sayBusy(r.name, `${r.name}: already ${r.status}`) : analyse(r.name, rate)) }, r.analysed ? "analyse again" : "analyse");
      // Not `disabled` while it runs: the keyboard on the button just pressed would drop to the page's start
      // when the list is drawn again (a disabled button takes no focus); said disabled, and pressing it says why.
      if (busy(r)) action.setAttribute("aria-disabled", "true");
      return element(
        "tr",
        { "data-name": r.name },
        element("td", {}, r.analysed ? element("a", { href: "/recordings/" + encodeURIComponent(r.name), "data-focus": r.name + " review" }, r.name) : r.name),
        element("td", { class: "status-" + r.status }, status),
        element("td", {}, r.beats === undefined ? "" : r.beats.toLocaleString()),
        element("td", { class: r.review_recommended ? "review-recommended" : "", title: adaptedTitle(r) }, adaptedText(r)),
        element("td", { class: "actions" }, ...(rate ? [rate, " "] : []), action),
      );
    }),
  ));
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

// Queue an analysis; `rate` (an input, or null) gives the sampling rate of a file that does not say it.
async function analyse(name, rate) {
  const settings = {};
  if (rate) {
    if (!rate.value) return void (message.textContent = `${name}: enter its sampling rate (Hz) first`);
    settings.fs = Number(rate.value);
  }
  try {
    const body = JSON.stringify(settings);
    await apiJSON("/api/recordings/" + encodeURIComponent(name) + "/analyse", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    message.textContent = "";
  } catch (error) {
    if (error.status === 409) sayBusy(name, error.message); // "NAME: already queued", from the server
    else message.textContent = error.message;
  }
  poll(); // at once, and every second while it runs
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
  poll(); // at once, and every second while it runs
});

// The list, again every second while an analysis is queued or running, else every 5 s.
let pollTimer = null;
async function poll() {
  clearTimeout(pollTimer);
  try {
    const rows = await refresh();
    const busy = rows.some((r) => r.status === "queued" || r.status === "running");
    pollTimer = setTimeout(poll, busy ? 1000 : 5000);
  } catch (error) {
    message.textContent = error.message;
    pollTimer = setTimeout(poll, 5000);
  }
}
poll();
