// Shared by the pages: API calls with the session's bearer token, asked for once.
"use strict";
const CLASS_COLOURS = { N: "#2f6db5", S: "#e08a00", V: "#c62828", F: "#7b3fa0", Q: "#6d6d6d", "": "#9e9e9e" };

// `refused`: the token sent was wrong, said above the field (emptied), so the same one is not sent again unknowingly.
function askToken(refused = false) {
  return new Promise((resolve) => {
    const box = document.getElementById("login");
    const form = box.querySelector("form");
    let note = form.querySelector(".login-note");
    if (!note) form.prepend((note = element("p", { class: "login-note error" })));
    note.textContent = refused ? "That token was refused: check it and try again." : "";
    note.hidden = !refused;
    box.style.display = "flex";
    // The page behind the token's box out of reach (Tab went on into it, unseen under the box) until it is given.
    for (const behind of document.querySelectorAll("body > header, body > main")) behind.inert = true;
    if (refused) box.querySelector("input").value = "";
    box.querySelector("input").focus();
    form.onsubmit = (event) => {
      event.preventDefault();
      sessionStorage.setItem("arrhythmia-token", box.querySelector("input").value);
      box.style.display = "none";
      for (const behind of document.querySelectorAll("body > header, body > main")) behind.inert = false;
      resolve();
    };
  });
}

// What a request says when the server does not answer at all (stopped, or the network down): not the
// browser's "Failed to fetch". Its error has `offline` set.
const OFFLINE = "the server is not answering (stopped, or the network is down)";

async function api(path, options = {}) {
  for (;;) {
    const headers = Object.assign({}, options.headers || {});
    const token = sessionStorage.getItem("arrhythmia-token");
    if (token) headers["Authorization"] = "Bearer " + token;
    let response;
    try {
      response = await fetch(path, Object.assign({}, options, { headers }));
    } catch (error) {
      const offline = new Error(OFFLINE);
      offline.offline = true;
      throw offline;
    }
    if (response.status !== 401) return response;
    await askToken(Boolean(token));
  }
}

async function apiJSON(path, options = {}) {
  const response = await api(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.detail ? String(body.detail) : response.status + " " + response.statusText);
    error.status = response.status;
    error.body = body;
    throw error;
  }
  return body;
}

// A file from the API saved by the browser (a plain link could not carry the token).
async function download(path, filename) {
  const response = await api(path);
  if (!response.ok) throw new Error((await response.json().catch(() => ({}))).detail || response.statusText);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// `box`'s children replaced by `render()`, the keyboard's focus kept on the same control (the element with the
// same data-focus) rather than dropped to the page's start with the element it was on.
function keepingFocus(box, render) {
  const active = document.activeElement;
  const key = active && box.contains(active) ? active.dataset.focus : undefined;
  render();
  if (key === undefined) return;
  const again = [...box.querySelectorAll("[data-focus]")].find((node) => node.dataset.focus === key);
  if (again) again.focus({ preventScroll: true });
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}
