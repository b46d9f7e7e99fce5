// meditate studio: no build step, no framework. The server checks, draws and renders; this page
// sends the editor's text (debounced) and shows what comes back.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { path: null, reach: null, job: null, timer: null, checking: false, again: false };
const DEBOUNCE_MS = 400;

async function api(url, body) {
  const opts = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const r = await fetch(url, opts);
  const type = r.headers.get("content-type") || "";
  const data = type.includes("json") ? await r.json() : { message: await r.text() };
  return { ok: r.ok, status: r.status, data };
}

function status(text) { $("status").textContent = text; }

function clock(s) {
  const m = Math.floor(s / 60), sec = Math.round(s - m * 60);
  return sec === 60 ? `${m + 1}:00` : `${m}:${String(sec).padStart(2, "0")}`;
}

async function loadFiles() {
  const { ok, data } = await api("/api/files");
  if (!ok) { status(data.message); return; }
  const list = $("script-list"), series = $("series-list");
  list.replaceChildren(); series.replaceChildren();
  for (const s of data.scripts) {
    const a = document.createElement("a");
    a.textContent = s.title; a.title = s.path; a.dataset.path = s.path;
    a.addEventListener("click", () => openFile(s.path));
    const li = document.createElement("li"); li.append(a); list.append(li);
  }
  for (const s of data.series) {
    const a = document.createElement("a");
    a.textContent = s.title; a.title = s.path; a.dataset.path = s.path;
    a.addEventListener("click", () => openFile(s.path));
    const li = document.createElement("li"); li.append(a);
    const sub = document.createElement("div"); sub.className = "series-scripts";
    sub.textContent = s.error ? s.error : s.scripts.join(", ");
    li.append(sub); series.append(li);
  }
}

async function openFile(path) {
  const { ok, data } = await api("/api/file?path=" + encodeURIComponent(path));
  if (!ok) { status(data.message); return; }
  state.path = path; state.reach = null;
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("current", a.dataset.path === path));
  $("current").textContent = path;
  $("text").value = data.text; $("text").disabled = false;
  $("save").disabled = false; $("render").disabled = !path.endsWith(".md");
  $("length").disabled = true; $("length").dataset.touched = "";
  $("player").hidden = true;
  gutter([]);
  check();
}

function gutter(marks) {
  const n = $("text").value.split("\n").length;
  const byLine = new Map(marks.filter((m) => m.line).map((m) => [m.line, m.kind]));
  const g = $("gutter"); g.replaceChildren();
  for (let i = 1; i <= n; i++) {
    const span = document.createElement("span");
    span.textContent = i; span.dataset.line = i;
    if (byLine.has(i)) span.className = byLine.get(i);
    g.append(span, "\n");
  }
  g.scrollTop = $("text").scrollTop;
}

function goToLine(line) {
  const t = $("text"), lines = t.value.split("\n");
  const at = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  t.focus(); t.setSelectionRange(at, at + (lines[line - 1] || "").length);
  t.scrollTop = Math.max(0, (line - 4) * 18);
}

function showProblems(errors, warnings) {
  const ul = $("errors"); ul.replaceChildren();
  const all = [...errors, ...warnings];
  for (const e of all) {
    const li = document.createElement("li");
    li.className = e.kind;
    li.dataset.line = e.line || "";
    li.textContent = (e.line ? `line ${e.line}: ` : "") + e.message;
    if (e.line) li.addEventListener("click", () => goToLine(e.line));
    ul.append(li);
  }
  if (!all.length) {
    const li = document.createElement("li"); li.className = "ok"; li.textContent = "No problems found."; ul.append(li);
  }
  gutter(all);
}

function lengthWanted() {
  const l = $("length");
  return l.dataset.touched ? Number(l.value) : null;
}

function showReach(reach) {
  const l = $("length");
  if (!reach) { l.disabled = true; $("reach").textContent = ""; return; }
  const [lo, hi] = reach;
  state.reach = reach;
  $("reach").textContent = hi > lo ? `reachable ${clock(lo)} to ${clock(hi)}` : `fixed length ${clock(lo)}`;
  l.min = Math.ceil(lo); l.max = Math.floor(hi); l.disabled = !(hi - lo >= 1);
  $("fit-reset").disabled = !l.dataset.touched;
}

async function check() {
  if (!state.path) return;
  // one check in flight per page: edits made meanwhile are checked once it is back
  if (state.checking) { state.again = true; return; }
  state.checking = true; state.again = false;
  status("checking…");
  let reply;
  try {
    reply = await api("/api/check", { path: state.path, text: $("text").value, length: lengthWanted() });
  } finally {
    state.checking = false;
  }
  if (state.again) { check(); return; }   // the text changed while this one ran
  const { ok, data } = reply;
  if (!ok) { status(data.message); return; }
  showProblems(data.errors, data.warnings);
  if (data.reachable) showReach(data.reachable);
  if (data.svg) $("timeline").innerHTML = data.svg;     // the server's own SVG (ElementTree-escaped)
  if (data.duration != null) {
    $("length-value").textContent = clock(data.duration) + (lengthWanted() == null ? " (as written)" : "");
    if (!$("length").dataset.touched) $("length").value = data.duration;
  }
  status(data.errors.length ? "has errors" : "checked");
}

function scheduleCheck() {
  clearTimeout(state.timer);
  gutter([]);
  state.timer = setTimeout(check, DEBOUNCE_MS);
}

async function save() {
  const { ok, data } = await api("/api/save", { path: state.path, text: $("text").value });
  if (ok) { status("saved " + state.path); loadFiles(); }
  else if (data.errors) { showProblems(data.errors, []); status("not saved: fix the errors first"); }
  else status(data.message);
}

async function render() {
  $("render").disabled = true;
  const { ok, data } = await api("/api/render", { path: state.path, text: $("text").value, length: lengthWanted() });
  if (!ok) { status(data.message); $("render").disabled = false; return; }
  state.job = data.job;
  $("progress").hidden = false;
  poll(data.job);
}

async function poll(job) {
  const { ok, data } = await api("/api/render/" + job);
  if (!ok || job !== state.job) return;
  $("progress").value = data.fraction || 0;
  $("progress-label").textContent = `${data.stage || data.state} ${Math.round((data.fraction || 0) * 100)}%`;
  if (data.state === "done") { finished(data); return; }
  if (data.state === "failed") {
    showProblems([data.error], []); status("render failed"); $("render").disabled = false;
    $("progress").hidden = true; return;
  }
  setTimeout(() => poll(job), 300);
}

function finished(job) {
  $("render").disabled = false; $("progress").hidden = true;
  $("progress-label").textContent = `rendered ${clock(job.duration)}, ${job.loudness.toFixed(1)} LUFS`;
  const audio = $("audio");
  audio.replaceChildren();
  audio.src = job.audio;
  const track = document.createElement("track");
  track.kind = "captions"; track.label = "Transcript"; track.srclang = "en"; track.src = job.vtt; track.default = true;
  audio.append(track);
  // an <audio> element draws no captions itself: show the active cue beside the player
  track.track.addEventListener("cuechange", () => {
    const cues = Array.from(track.track.activeCues || []);
    $("caption").textContent = cues.map((c) => c.text).join(" ");
  });
  const ol = $("chapters"); ol.replaceChildren();
  for (const c of job.chapters) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = `${clock(c.start)} ${c.title}`; b.dataset.start = c.start;
    b.addEventListener("click", () => { audio.currentTime = c.start; audio.play(); });
    const li = document.createElement("li"); li.append(b); ol.append(li);
  }
  $("player").hidden = false;
  audio.load();
  status("rendered");
}

$("text").addEventListener("input", scheduleCheck);
$("text").addEventListener("scroll", () => { $("gutter").scrollTop = $("text").scrollTop; });
$("length").addEventListener("input", () => {
  $("length").dataset.touched = "1";
  $("length-value").textContent = clock(Number($("length").value));
  scheduleCheck();
});
$("fit-reset").addEventListener("click", () => { $("length").dataset.touched = ""; check(); });
$("save").addEventListener("click", save);
$("render").addEventListener("click", render);
if (location.search.includes("token=")) history.replaceState(null, "", "/");   // the cookie carries it now
loadFiles();
