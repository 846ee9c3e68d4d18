// Shared by the pages: API calls with the session's bearer token, asked for once.
"use strict";
const CLASS_COLOURS = { N: "#2f6db5", S: "#e08a00", V: "#c62828", F: "#7b3fa0", Q: "#6d6d6d", "": "#9e9e9e" };

function askToken() {
  return new Promise((resolve) => {
    const box = document.getElementById("login");
    const form = box.querySelector("form");
    box.style.display = "flex";
    box.querySelector("input").focus();
    form.onsubmit = (event) => {
      event.preventDefault();
      sessionStorage.setItem("arrhythmia-token", box.querySelector("input").value);
      box.style.display = "none";
      resolve();
    };
  });
}

async function api(path, options = {}) {
  for (;;) {
    const headers = Object.assign({}, options.headers || {});
    const token = sessionStorage.getItem("arrhythmia-token");
    if (token) headers["Authorization"] = "Bearer " + token;
    const response = await fetch(path, Object.assign({}, options, { headers }));
    if (response.status !== 401) return response;
    await askToken();
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

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}
