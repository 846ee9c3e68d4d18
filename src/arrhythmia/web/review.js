// The review page of one recording. It never loads the whole signal: the overview comes decimated from the
// server, and the strip asks for the stretch it shows.
"use strict";
const NAME = decodeURIComponent(location.pathname.split("/").pop());
const BASE = "/api/recordings/" + encodeURIComponent(NAME);
const WIDTHS = [10, 20, 30, 60];
const view = { rec: null, version: 0, start: 0, width: 10, signal: null, beats: [], selected: null, episodes: [], families: [], questions: [], overview: null, canUndo: false };
const message = document.getElementById("message");
// The letters drawn on the canvases: the class colours where they are text, darker where a colour is too pale for
// a letter (S's orange and the grey of no label are 2.7:1 on white; these 5.0 and 4.6, WCAG AA's 4.5).
const TEXT_COLOURS = Object.assign({}, CLASS_COLOURS, { S: "#a35f00", "": "#757575" });
const UNSURE_BELOW = 0.5; // review.UNSURE_BELOW: a beat under it, not yet reviewed, is an unsure one ("c")

function say(text, error = false) {
  message.textContent = text;
  message.className = error ? "error" : "";
}

// "m:ss.s" or "h:mm:ss.s", rounded to the tenth first so that 59.96 s is 1:00.0, never 0:60.0.
function clock(seconds) {
  const tenths = Math.round(Math.max(0, seconds) * 10);
  const h = Math.floor(tenths / 36000), m = Math.floor((tenths % 36000) / 600), s = (tenths % 600) / 10;
  return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + s.toFixed(1).padStart(4, "0");
}

// The time of day `seconds` into the recording ("14:32:05"), from the start its file gave; "" without one.
function wallClock(seconds) {
  const start = view.rec && view.rec.start_time;
  if (!start) return "";
  const [h, m, s] = start.split("T").pop().split(":").map(Number);
  const t = Math.round(h * 3600 + m * 60 + s + seconds) % 86400;
  return [Math.floor(t / 3600), Math.floor((t % 3600) / 60), t % 60].map((v) => String(v).padStart(2, "0")).join(":");
}

// `clock(seconds)`, with the time of day after it where the recording's start is known.
function when(seconds) {
  const wall = wallClock(seconds);
  return clock(seconds) + (wall ? ` (${wall})` : "");
}

function showCounts(perClass, unsureLeft) {
  const counts = document.getElementById("counts");
  counts.replaceChildren(
    ...Object.entries(perClass).map(([c, n]) =>
      element("span", {}, element("span", { class: "cls cls-" + c }, c), " ", element("span", { id: "count-" + c }, n.toLocaleString("en-US"))),
    ),
    element("span", { title: "beats the network was unsure of, not yet reviewed (c: the next one)" }, "unsure left ", element("span", { id: "count-unsure" }, (unsureLeft ?? 0).toLocaleString("en-US"))),
  );
}

// "1 beat", "2,950 beats".
function count(n, noun) {
  return `${n.toLocaleString("en-US")} ${noun}${n === 1 ? "" : "s"}`;
}

// A click far down the page (a family, an episode, a beat to review, an event) changes the strip: shown
// where the reviewer can see it (a no-op where it is already in view).
function revealStrip() {
  document.getElementById("strip").closest("section").scrollIntoView({ block: "nearest" });
}

function setVersion(version, canUndo) {
  view.version = version;
  document.getElementById("version").textContent = "version " + version;
  const button = document.getElementById("undo");
  if (canUndo === undefined) return;
  view.canUndo = Boolean(canUndo);
  // The keyboard on the undo button that nothing is left to undo goes to the strip: disabled, the button would
  // drop it to nowhere.
  if (!canUndo && document.activeElement === button) document.getElementById("strip").focus({ preventScroll: true });
  button.disabled = !canUndo;
}

// --- drawing ---------------------------------------------------------------------------------------------

function sized(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight || canvas.height;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  return [context, width, height];
}

function drawOverview() {
  const data = view.overview;
  if (!data) return;
  const canvas = document.getElementById("overview");
  const [g, width, height] = sized(canvas);
  const n = data.heart_rate_bpm.length, lane = 12, top = height - 4 * lane - 14; // a lane holds its 10 px letter
  g.clearRect(0, 0, width, height);
  g.fillStyle = "#666";
  g.font = "10px sans-serif";
  for (const bpm of [50, 100, 150]) {
    const y = top - ((bpm - 30) / 170) * top;
    g.fillText(bpm, 0, y);
    g.fillRect(22, y, width - 22, 0.3);
  }
  g.strokeStyle = "#263238";
  g.beginPath();
  let drawing = false;
  data.heart_rate_bpm.forEach((bpm, i) => {
    if (bpm === null) return void (drawing = false);
    const x = 22 + ((i + 0.5) / n) * (width - 22), y = top - ((Math.min(Math.max(bpm, 30), 200) - 30) / 170) * top;
    drawing ? g.lineTo(x, y) : g.moveTo(x, y);
    drawing = true;
  });
  g.stroke();
  ["S", "V", "F", "Q"].forEach((c, k) => {
    const counts = data.counts[c];
    const y = top + 4 + k * lane;
    g.fillStyle = "#555";
    g.fillText(c, 4, y + lane - 3);
    if (!counts) return;
    g.fillStyle = CLASS_COLOURS[c];
    counts.forEach((count, i) => {
      if (count > 0) g.fillRect(22 + (i / n) * (width - 22), y, Math.max((width - 22) / n, 1), lane - 1);
    });
  });
  const x0 = 22 + (view.start / data.duration_s) * (width - 22);
  g.fillStyle = "rgba(33, 150, 243, 0.35)";
  g.fillRect(x0, 0, Math.max((view.width / data.duration_s) * (width - 22), 2), height - 12);
  g.fillStyle = "#666";
  g.fillText(clock(0), 22, height - 1);
  g.fillText(clock(data.duration_s), width - 50, height - 1);
}

function drawStrip() {
  const canvas = document.getElementById("strip");
  const [g, width, height] = sized(canvas);
  g.clearRect(0, 0, width, height);
  const signal = view.signal;
  const x = (t) => ((t - view.start) / view.width) * width;
  // The beats' letters on as many rows (up to 3) as keep them apart: on one row, a 60-s strip's letters ran
  // into one another ("NN?S+N?" unreadable); the grid and the signal start below the last row.
  g.font = "bold 12px sans-serif";
  const texts = view.beats.map(mark), half = texts.map((text) => g.measureText(text).width / 2 + 2);
  const apart = (k) => view.beats.every((b, i) => i < k || x(b.time_s) - x(view.beats[i - k].time_s) >= half[i] + half[i - k]);
  const rows = apart(1) ? 1 : apart(2) ? 2 : 3, top = 6 + 12 * rows;
  g.strokeStyle = "#f0d0d0";
  for (let t = Math.ceil(view.start * 5) / 5; t < view.start + view.width; t += 0.2) {
    g.lineWidth = Math.abs(t - Math.round(t)) < 1e-6 ? 1 : 0.3;
    g.beginPath();
    g.moveTo(x(t), top);
    g.lineTo(x(t), height);
    g.stroke();
  }
  if (signal && signal.values.length) {
    const finite = signal.values.filter((v) => v !== null).sort((a, b) => a - b);
    const lo = finite[Math.floor(finite.length * 0.001)] ?? -1, hi = finite[Math.floor(finite.length * 0.999)] ?? 1;
    const span = Math.max(hi - lo, 1e-6), y = (v) => top + 6 + (1 - (v - lo) / span) * (height - top - 16);
    g.strokeStyle = "#111";
    g.lineWidth = 1;
    g.beginPath();
    let drawing = false;
    signal.values.forEach((v, i) => {
      if (v === null) return void (drawing = false);
      const px = x(signal.start_s + i * signal.step_s), py = y(v);
      drawing ? g.lineTo(px, py) : g.moveTo(px, py);
      drawing = true;
    });
    g.stroke();
  }
  g.textAlign = "center";
  view.beats.forEach((beat, i) => {
    const px = x(beat.time_s), colour = CLASS_COLOURS[beat.label] || CLASS_COLOURS[""];
    if (beat.sample === view.selected) {
      g.fillStyle = "rgba(255, 235, 59, 0.45)";
      g.fillRect(px - 14, 0, 28, height);
    }
    g.strokeStyle = colour;
    g.globalAlpha = 0.5;
    g.beginPath();
    g.moveTo(px, top);
    g.lineTo(px, height);
    g.stroke();
    g.globalAlpha = 1;
    g.fillStyle = TEXT_COLOURS[beat.label] || TEXT_COLOURS[""];
    g.fillText(texts[i], px, 13 + 12 * (i % rows));
  });
  const wall = wallClock(view.start);
  document.getElementById("strip-time").textContent =
    clock(view.start) + " to " + clock(view.start + view.width) + (wall ? ` (${wall} to ${wallClock(view.start + view.width)})` : "");
  canvas.dataset.beats = view.beats.length;
  canvas.dataset.start = view.start;
  remember();
  const beat = view.beats.find((b) => b.sample === view.selected);
  // The model's label of a reviewed beat as the model gave it: once re-labelled with the corrections, the analysis
  // holds the reviewer's label as its own (model_label), and "(model: N)" of an S* beat was no longer said.
  const model = beat && beat.reviewed && beat.label_before != null ? beat.label_before : beat && beat.model_label;
  const selected = beat
    ? `beat at ${when(beat.time_s)} (sample ${beat.sample}): ${beat.label || "not classified"}` +
      (beat.label !== model ? ` (model: ${model || "none"})` : "") +
      (carried(beat) ? ` (${beat.relabelled_from || "no label"} before re-labelling with your corrections)` : "") +
      (beat.family >= 0 ? `, family ${beat.family}` : "") + (beat.confidence !== null ? `, confidence ${confidenceText(beat.confidence)}` : "") +
      (unsure(beat) ? " (unsure)" : "")
    : "click a beat or press \u2192";
  // A live region: set only when it changes, so that a redraw (a resize) does not read it out again.
  const said = document.getElementById("selected");
  if (said.textContent !== selected) said.textContent = selected;
  markQuestion();
}

// A confidence in two decimals, rounded down: 0.4996 (unsure, under 0.5) is "0.49", never "0.50 (unsure)".
function confidenceText(value) {
  return (Math.floor(value * 100) / 100).toFixed(2);
}

// A beat's letter on the strip and what is known of it: "*" set by a reviewer; "+" changed by the latest
// re-labelling with the corrections (an answer carried to its family or group: the new analysis's own label,
// marked so that the reviewer sees what the re-labelling touched); "?" unsure, not yet reviewed.
function mark(beat) {
  return (beat.label || "?") + (beat.reviewed ? "*" : (carried(beat) ? "+" : "") + (unsure(beat) ? "?" : ""));
}

function carried(beat) {
  return !beat.reviewed && beat.relabelled_from !== undefined && beat.relabelled_from !== beat.label;
}

// A beat the network was unsure of and nobody has reviewed yet: a "?" after its letter on the strip.
function unsure(beat) {
  return !beat.reviewed && beat.confidence !== null && beat.confidence !== undefined && beat.confidence < UNSURE_BELOW;
}

// A table row or other element that acts when clicked, made to act from the keyboard too (Tab to it, Enter or
// Space): the attributes to give it.
function activatable(action, attributes = {}) {
  const run = (event) => {
    if (event.type === "keydown") {
      if (event.key !== "Enter" && event.key !== " ") return;
      event.preventDefault();
    }
    Promise.resolve(action()).catch((error) => say(error.message, true));
  };
  return Object.assign({ tabindex: "0", class: "clickable", onclick: run, onkeydown: run }, attributes);
}

// The place in the recording (the strip's start and length, the selected beat) kept in the address
// (#t=...&w=...&beat=...), so that a reload, a bookmark or a restarted server brings the reviewer back to it.
function remember() {
  const place = `#t=${view.start.toFixed(1)}&w=${view.width}` + (view.selected !== null ? `&beat=${view.selected}` : "");
  if (location.hash !== place) history.replaceState(null, "", place);
}

function recall() {
  const saved = new URLSearchParams(location.hash.slice(1));
  const start = Number(saved.get("t")), width = Number(saved.get("w")), beat = saved.get("beat");
  if (Number.isFinite(start) && start > 0) view.start = start;
  if (WIDTHS.includes(width)) view.width = width;
  if (beat !== null && /^\d+$/.test(beat)) view.selected = Number(beat);
}

// --- loading -----------------------------------------------------------------------------------------------

// Strips asked for in quick succession ("+" pressed three times) may come back out of order: only the answer to
// the latest request is drawn, else an earlier, shorter strip could land last and stay under a 60 s label.
let stripRequests = 0;

async function loadStrip(start) {
  const request = ++stripRequests;
  const duration = view.rec.duration_s;
  view.start = Math.max(0, Math.min(start, Math.max(duration - view.width, 0)));
  const end = Math.min(view.start + view.width, duration);
  const range = `start_s=${view.start.toFixed(3)}&end_s=${end.toFixed(3)}`;
  const [signal, beats] = await Promise.all([apiJSON(`${BASE}/signal?${range}`), apiJSON(`${BASE}/beats?${range}`)]);
  if (request !== stripRequests) return;
  view.signal = signal;
  view.beats = beats;
  drawStrip();
  drawOverview();
}

async function showBeat(beat) {
  if (!beat) return;
  view.selected = beat.sample;
  if (beat.time_s < view.start || beat.time_s > view.start + view.width) await loadStrip(beat.time_s - view.width / 2);
  else drawStrip();
}

async function loadOverview() {
  view.overview = await apiJSON(`${BASE}/overview`);
  drawOverview();
}

async function loadFamilies() {
  view.families = await apiJSON(`${BASE}/families`);
  const box = document.getElementById("families");
  keepingFocus(box, () => box.replaceChildren(
    ...view.families.slice(0, 40).map((f) => {
      const canvas = element("canvas", { height: 70 });
      const counts = Object.entries(f.counts).map(([c, n]) => `${c || "?"} ${n.toLocaleString("en-US")}`).join(", ");
      // how early its beats come: the RR interval before them over the local median, as families.png says it
      const early = f.pre_rr_ratio === null || f.pre_rr_ratio === undefined ? "" : `; RR before ${f.pre_rr_ratio.toFixed(2)} of the local median`;
      const buttons = view.rec.classes.map((c) => {
        const what = `label ${f.beats === 1 ? "its beat" : `all ${count(f.beats, "beat")}`} ${c}`;
        // named with the family, read out as more than the letter by a screen reader
        const named = { "aria-label": `family ${f.family}: ${what}`, "data-focus": `${f.family} ${c}` };
        return element("button", { class: "cls cls-" + c, title: what, ...named, onclick: () => relabelFamily(f.family, c) }, c);
      });
      const card = element(
        "div",
        { class: "family", id: "family-" + f.family },
        element("div", {}, element("b", {}, `family ${f.family}`), `: ${count(f.beats, "beat")} `, element("span", { class: "cls cls-" + f.label }, f.label)),
        canvas,
        element("div", { class: "muted" }, counts + early),
        element("div", {}, ...buttons, " ", element("button", { "aria-label": `show a beat of family ${f.family}`, "data-focus": `${f.family} show`, onclick: () => showBeat({ sample: f.example_sample, time_s: f.example_sample / view.rec.fs }).then(revealStrip) }, "show")),
      );
      requestAnimationFrame(() => drawTemplate(canvas, f.template, CLASS_COLOURS[f.label]));
      return card;
    }),
  ));
}

function drawTemplate(canvas, values, colour) {
  const [g, width, height] = sized(canvas);
  if (!values.length) return;
  const lo = Math.min(...values), hi = Math.max(...values), span = Math.max(hi - lo, 1e-6);
  g.strokeStyle = colour || "#333";
  g.beginPath();
  values.forEach((v, i) => {
    const px = (i / (values.length - 1)) * width, py = 4 + (1 - (v - lo) / span) * (height - 8);
    i ? g.lineTo(px, py) : g.moveTo(px, py);
  });
  g.stroke();
}

async function loadQuestions() {
  const asked = await apiJSON(`${BASE}/questions`);
  view.questions = asked;
  document.getElementById("questions-section").hidden = !asked.length;
  const body = document.querySelector("#questions tbody");
  keepingFocus(body, () => body.replaceChildren(
    ...asked.map((q, i) =>
      element(
        "tr",
        activatable(
          async () => {
            await showBeat(q);
            revealStrip();
            document.getElementById("strip").focus({ preventScroll: true });
          },
          { "data-sample": q.sample, "data-focus": String(q.sample) },
        ),
        element("td", {}, String(i + 1)),
        element("td", {}, clock(q.time_s)),
        element("td", {}, element("span", { class: "cls cls-" + q.label }, q.label || "?")),
        element("td", {}, q.reason),
        element("td", { class: "muted" }, q.reviewed ? "answered" : ""),
      ),
    ),
  ));
  markQuestion();
}

function markQuestion() {
  for (const row of document.querySelectorAll("#questions tbody tr")) {
    const current = Number(row.dataset.sample) === view.selected;
    row.classList.toggle("current", current); // marked by a pointer as well as the colour (style.css)
    if (current) row.setAttribute("aria-current", "true");
    else row.removeAttribute("aria-current");
  }
}

function jumpToQuestion(direction) {
  const asked = view.questions;
  if (!asked.length) return say("this analysis asks about no beats", true);
  const at = asked.findIndex((q) => q.sample === view.selected);
  const start = at >= 0 ? at : direction > 0 ? -1 : asked.length;
  for (let i = 1; i <= asked.length; i++) {
    const q = asked[(((start + direction * i) % asked.length) + asked.length) % asked.length];
    if (!q.reviewed) return showBeat(q);
  }
  say("every beat to review is answered: re-label with your corrections");
}

async function loadEpisodes() {
  view.episodes = (await apiJSON(`${BASE}/episodes`)).sort((a, b) => a.start_s - b.start_s);
  const body = document.querySelector("#episodes tbody");
  keepingFocus(body, () => body.replaceChildren(
    ...view.episodes.slice(0, 300).map((e) =>
      element(
        "tr",
        activatable(() => loadStrip(e.start_s - 2).then(revealStrip), { "data-focus": String(e.start_s) }),
        element("td", {}, e.type),
        element("td", {}, when(e.start_s)),
        element("td", {}, (e.end_s - e.start_s).toFixed(1) + " s"),
        element("td", {}, e.beats ?? ""),
      ),
    ),
  ));
}

// The patient's events the recording's file marks (an EDF+ file's annotations), each a click from its strip.
function showEvents(events) {
  document.getElementById("events-section").hidden = !events.length;
  document.querySelector("#events tbody").replaceChildren(
    ...events.slice(0, 300).map((e) =>
      element(
        "tr",
        activatable(() => loadStrip(e.time_s - view.width / 2).then(revealStrip)),
        element("td", {}, when(e.time_s)),
        element("td", {}, e.text),
      ),
    ),
  );
}

async function loadRecording() {
  const rec = await apiJSON(BASE + "?summary=false"); // the summary (episodes, HRV) is not needed to draw
  view.rec = rec;
  // An analysis already under way (from another tab, or the recordings page): the button marked as while its own runs
  if (!relabelling) markBusy(rec.status === "queued" || rec.status === "running");
  document.getElementById("title").textContent = rec.name;
  document.title = "arrhythmia: " + rec.name;
  if (!rec.analysed || rec.status === "queued" || rec.status === "running") {
    say(`${rec.name}: ${rec.status}${rec.stage ? " (" + rec.stage + ")" : ""}${rec.error ? ": " + rec.error : ""}`, rec.status === "failed");
    if (rec.status === "queued" || rec.status === "running") setTimeout(() => loadRecording().catch((error) => say(error.message, true)), 1000);
    return;
  }
  if (rec.status === "failed") say(`the last analysis failed: ${rec.error}`, true);
  else say("");
  setVersion(rec.version, rec.can_undo);
  showCounts(rec.per_class, rec.unsure_left);
  const unmatched = document.getElementById("unmatched"), lost = rec.corrections_unmatched || 0;
  unmatched.hidden = !lost;
  unmatched.textContent = `${count(lost, "correction")} of beats this analysis did not find: not applied`;
  showEvents(rec.events || []);
  const jump = document.getElementById("jump-class");
  if (!jump.options.length) {
    jump.replaceChildren(...rec.classes.map((c) => element("option", { value: c }, c)));
    jump.value = rec.classes.includes("V") ? "V" : rec.classes[0];
  }
  await Promise.all([loadStrip(view.start), loadOverview(), loadFamilies(), loadQuestions()]);
  await loadEpisodes(); // the episodes of the reviewed labels take a second to make on a 24-hour recording
}

// --- corrections -------------------------------------------------------------------------------------------

// Changes go to the server one at a time, each with the version the one before it was answered with. Sent at
// once, two keys pressed quickly ("v", then "u" or another beat's "v") carried the same version: the second was
// refused as stale, the page reloaded and said the recording had been "changed elsewhere (another tab?)".
let changes = Promise.resolve();
function change(path, method, body) {
  const done = changes.then(() => changeNow(path, method, body));
  changes = done.catch(() => {});
  return done;
}

async function changeNow(path, method, body) {
  try {
    const done = await apiJSON(path, { method, headers: { "Content-Type": "application/json", "If-Match": `"${view.version}"` }, body: JSON.stringify(body) });
    setVersion(done.version, done.can_undo);
    showCounts(done.per_class, done.unsure_left);
    // kept current: re-labelling says its moves per class against these (stale, it counted the hand
    // corrections made since the page was opened among the beats it changed)
    view.rec.per_class = done.per_class;
    const changed = new Map(done.beats.map((b) => [b.sample, b]));
    // merged: an answer's rows lack what the strip's request added (relabelled_from), which an undo keeps
    view.beats = view.beats.map((b) => (changed.has(b.sample) ? { ...b, ...changed.get(b.sample) } : b));
    drawStrip();
    // The answer lists at most 1,000 of the beats it changed (a family can hold thousands): the strip's beats
    // are asked for again, so that it never shows labels the change replaced.
    if (done.changed > done.beats.length) await loadStrip(view.start);
    if (done.undone) say(`undone: ${done.undone}; ${count(done.changed, "beat")} back as before (now version ${done.version})`);
    else say(`saved: ${count(done.changed, "beat")} (version ${done.version})`);
    refreshLater();
    return done;
  } catch (error) {
    if (error.status === 409) {
      await loadRecording(); // said after the reload, which would clear it
      say("Not saved: this recording was changed elsewhere (another tab?) and has been reloaded; check it and redo your change. (" + error.message + ")", true);
    } else if (error.offline) {
      say(`Not saved: ${error.message}. Start it again and redo this change; every change it answered "saved" is kept.`, true);
    } else if (path.endsWith("/undo") && error.status === 422) {
      setVersion(view.version, false); // undone meanwhile in another tab: nothing left here either
      say("nothing to undo");
    } else say(error.message, true);
  }
}

let refreshTimer = null;
function refreshLater() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => Promise.all([loadOverview(), loadFamilies(), loadQuestions(), loadEpisodes()]).catch((e) => say(e.message, true)), 600);
}

function relabelBeat(label) {
  const beat = view.beats.find((b) => b.sample === view.selected);
  if (!beat) return say("select a beat first (click it, or press \u2192)", true);
  return change(`${BASE}/beats`, "PATCH", { sample: beat.sample, label });
}

function relabelFamily(family, label) {
  return change(`${BASE}/beats`, "PATCH", { family, label });
}

// With nothing to undo (as the last answer said) nothing is asked: the request was refused (422), an error in red
// and in the browser's console for a key pressed once too often. "Nothing to undo" said quietly instead.
function undo() {
  // once the changes sent before it are answered: "v" then "u" at once undoes that "v"
  return changes.then(() => (view.canUndo ? change(`${BASE}/undo`, "POST", {}) : say("nothing to undo")));
}

// --- navigation --------------------------------------------------------------------------------------------

function currentTime() {
  const beat = view.beats.find((b) => b.sample === view.selected);
  return beat ? beat.time_s : view.start;
}

async function step(direction) {
  const beats = view.beats;
  const at = beats.findIndex((b) => b.sample === view.selected);
  const next = at < 0 ? (direction > 0 ? beats[0] : beats[beats.length - 1]) : beats[at + direction];
  if (next) return showBeat(next);
  const path = `${BASE}/beats/next?after_s=${currentTime()}${direction < 0 ? "&backwards=true" : ""}`;
  const response = await api(path);
  if (response.ok) return showBeat(await response.json());
}

async function jumpToClass(label, backwards = false) {
  const response = await api(`${BASE}/beats/next?after_s=${currentTime()}&label=${encodeURIComponent(label)}${backwards ? "&backwards=true" : ""}`);
  if (response.ok) return showBeat(await response.json());
  say(`no ${backwards ? "earlier" : "later"} ${label} beat`);
}

async function jumpToUnsure(direction) {
  const response = await api(`${BASE}/beats/next?after_s=${currentTime()}&unsure=true${direction < 0 ? "&backwards=true" : ""}`);
  if (response.ok) return showBeat(await response.json());
  say(`no ${direction < 0 ? "earlier" : "later"} unsure beat left to review`);
}

function jumpToEpisode(direction) {
  const now = view.start + 2 + 1e-3 * direction;
  const list = direction > 0 ? view.episodes.filter((e) => e.start_s > now) : view.episodes.filter((e) => e.start_s < now - 1e-3).reverse();
  if (!list.length) return say(`no ${direction > 0 ? "later" : "earlier"} episode`);
  say(`${list[0].type} from ${clock(list[0].start_s)} for ${(list[0].end_s - list[0].start_s).toFixed(1)} s`);
  return loadStrip(list[0].start_s - 2);
}

function setWidth(delta) {
  const k = Math.max(0, Math.min(WIDTHS.length - 1, WIDTHS.indexOf(view.width) + delta));
  view.width = WIDTHS[k];
  document.getElementById("width").textContent = view.width;
  return loadStrip(view.start);
}

document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, select, textarea") || !view.rec || !view.signal) return;
  // With Ctrl, Alt or Cmd a key is the browser's (Ctrl/Cmd with + and - zooms the page, Alt+Left goes back),
  // the page's undo (Ctrl/Cmd+Z) aside; AltGr (Ctrl+Alt on Windows) only types a character, "[" on a German keyboard.
  const undoKey = event.key.toLowerCase() === "z" && (event.ctrlKey || event.metaKey) && !event.altKey;
  const altGraph = event.getModifierState && event.getModifierState("AltGraph");
  if ((event.ctrlKey || event.metaKey || event.altKey) && !undoKey && !altGraph) return;
  const key = event.key;
  const lower = key.toLowerCase();
  let action = null;
  if (key === "ArrowRight") action = () => step(1);
  else if (key === "ArrowLeft") action = () => step(-1);
  else if (key === "PageDown") action = () => loadStrip(view.start + view.width);
  else if (key === "PageUp") action = () => loadStrip(view.start - view.width);
  else if (key === "]" || key === "[") action = () => jumpToClass(document.getElementById("jump-class").value, key === "[");
  else if (lower === "e") action = () => jumpToEpisode(event.shiftKey ? -1 : 1);
  else if (lower === "c") action = () => jumpToUnsure(event.shiftKey ? -1 : 1);
  // Enter on a link, a button or a row reached with Tab presses it (a button clicked with the mouse has given
  // the focus back, below); elsewhere, the strip included, it is the next beat to review.
  else if (key === "Enter" && !event.target.closest("a, button, summary, [tabindex]:not(#strip)")) action = () => jumpToQuestion(event.shiftKey ? -1 : 1);
  else if (key === "+" || key === "=") action = () => setWidth(1);
  else if (key === "-") action = () => setWidth(-1);
  else if (undoKey || key === "u") action = undo;
  else if (view.rec.classes.includes(key.toUpperCase())) {
    const label = key.toUpperCase();
    if (event.shiftKey) document.getElementById("jump-class").value = label;
    action = event.shiftKey ? () => jumpToClass(label) : () => relabelBeat(label);
  }
  if (action) {
    event.preventDefault();
    // The strip the key changed, brought on screen: at 200% zoom it can lie below the window's bottom edge.
    const strip = document.getElementById("strip");
    Promise.resolve(action())
      .then(() => strip.scrollIntoView({ block: "nearest" }))
      .catch((error) => say(error.message, true));
  }
});

// A button clicked with the mouse hands the keyboard back to the page: kept focused, the next Enter or Space
// would press it again (an undo, undoing the correction just made).
document.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (button && event.detail > 0) button.blur();
});

document.getElementById("strip").addEventListener("click", (event) => {
  const rect = event.target.getBoundingClientRect();
  const t = view.start + ((event.clientX - rect.left) / rect.width) * view.width;
  let best = null;
  for (const b of view.beats) if (!best || Math.abs(b.time_s - t) < Math.abs(best.time_s - t)) best = b;
  if (best) showBeat(best);
});

document.getElementById("overview").addEventListener("click", (event) => {
  if (!view.overview) return;
  const rect = event.target.getBoundingClientRect();
  const fraction = (event.clientX - rect.left - 22) / (rect.width - 22);
  loadStrip(fraction * view.overview.duration_s - view.width / 2).catch((error) => say(error.message, true));
});

// The class beside [ ] chosen: the keyboard goes back to the strip, where the focus is seen (blurred, it was
// nowhere to be seen). Kept focused, the select would swallow every key (and take "v" or "f" for a class to
// choose rather than a beat to relabel).
document.getElementById("jump-class").addEventListener("change", () => document.getElementById("strip").focus({ preventScroll: true }));

document.getElementById("undo").addEventListener("click", undo);

// The exports' menu closed once one is chosen, with Escape, or with a click elsewhere; the keyboard inside it
// goes back to its "export" (hidden, the button it was on would drop it to the page's start).
const exportMenu = document.getElementById("export");
function closeExportMenu() {
  if (!exportMenu.open) return;
  if (exportMenu.contains(document.activeElement)) exportMenu.querySelector("summary").focus({ preventScroll: true });
  exportMenu.open = false;
}
// Opened under the right end of "export"; where that would cut it at the window's left edge (the header
// wrapped, at 200% zoom), under its left end.
exportMenu.addEventListener("toggle", () => {
  const menu = exportMenu.querySelector(".menu");
  menu.classList.remove("from-left");
  if (exportMenu.open && menu.getBoundingClientRect().left < 0) menu.classList.add("from-left");
});
exportMenu.addEventListener("keydown", (event) => {
  if (event.key === "Escape") closeExportMenu();
});
document.addEventListener("click", (event) => {
  if (!exportMenu.contains(event.target)) closeExportMenu();
});
function exported(what, path, filename) {
  closeExportMenu();
  if (what) say(what);
  return download(path, filename).then(() => what && say("exported"), (e) => say(e.message, true));
}
document.getElementById("export-annotations").addEventListener("click", () =>
  exported("", `${BASE}/annotations`, `${NAME.replace(/[^A-Za-z0-9_-]/g, "_")}.rev`),
);
document.getElementById("export-beats").addEventListener("click", () =>
  exported("writing the reviewed outputs\u2026", `${BASE}/export/beats.csv`, `${NAME}-reviewed-beats.csv`),
);
document.getElementById("export-report").addEventListener("click", () =>
  exported("writing the report of the reviewed labels\u2026", `${BASE}/export/report.html`, `${NAME}-reviewed-report.html`),
);
document.getElementById("relabel").addEventListener("click", () => relabelWithCorrections().catch((error) => say(error.message, true)));

// Kept "disabled" (aria-disabled, so that the keyboard stays on it) while a re-labelling runs: pressed twice
// quickly, it asked the server for a second one of the same recording. Pressed meanwhile, it says so.
let relabelling = false;
function markRelabelling(on) {
  relabelling = on;
  markBusy(on);
}

function markBusy(on) {
  const button = document.getElementById("relabel");
  if (on) button.setAttribute("aria-disabled", "true");
  else button.removeAttribute("aria-disabled");
}

async function relabelWithCorrections() {
  if (relabelling) return say("already re-labelling with your corrections\u2026");
  if (view.rec && (view.rec.status === "queued" || view.rec.status === "running")) return say(`${view.rec.name}: already ${view.rec.status}; wait for it`);
  markRelabelling(true);
  try {
    await relabelOnce();
  } finally {
    markRelabelling(false);
  }
}

async function relabelOnce() {
  if (!view.rec || !view.rec.per_class) return say("this recording is not analysed yet", true);
  const before = view.rec.per_class;
  try {
    await apiJSON(`${BASE}/analyse`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ use_corrections: true }) });
  } catch (error) {
    return say(error.message, true);
  }
  // Polled until it is done; a server that stops answering meanwhile is waited for (a restarted one says the
  // analysis was interrupted), never left saying "re-labelling" for ever.
  let rec = null, away = false;
  for (;;) {
    if (away) say(`re-labelling: ${OFFLINE}; waiting for it (your corrections are saved)\u2026`, true);
    else say("re-labelling with your corrections\u2026" + (rec && rec.stage ? ` (${rec.stage})` : ""));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    try {
      rec = await apiJSON(BASE + "?summary=false");
      away = false;
    } catch (error) {
      if (!error.offline) throw error;
      away = true;
      continue;
    }
    if (rec.status !== "queued" && rec.status !== "running") break;
  }
  await loadRecording();
  if (rec.status === "failed") say(`re-labelling failed: ${rec.error}`, true);
  else say(relabelled(rec, before));
}

// What re-labelling with the corrections did: how many answers it carried, to how many beats, per class.
function relabelled(rec, before) {
  const done = rec.relabelled || { corrections: 0, changed: 0 };
  const n = done.corrections, changed = done.changed;
  const moves = rec.classes
    .map((c) => [c, (rec.per_class[c] || 0) - (before[c] || 0)])
    .filter(([, d]) => d)
    .map(([c, d]) => `${c} ${d > 0 ? "+" : "\u2212"}${Math.abs(d).toLocaleString("en-US")}`);
  const what = changed ? `${count(changed, "beat")} changed label (${moves.join(", ") || "counts unchanged"})` : "no beat changed label";
  return `re-labelled with your ${count(n, "correction")}: ${what}`;
}
window.addEventListener("resize", () => {
  drawOverview();
  drawStrip();
});

recall();
document.getElementById("width").textContent = view.width;
loadRecording().catch((error) => say(error.message, true));
