// The langchain-guardrails console: plain JavaScript, no build step, no network but this server.
// It shows what a client receives and the run's events (names, units, verdicts, timings).
"use strict";

const state = { configs: [], key: sessionStorage.getItem("lcg-api-key") || "", run: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "className") node.className = value;
    else node.setAttribute(name, value);
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

// -- the API, with the key -------------------------------------------------------------------

async function api(path, options) {
  const headers = { "Content-Type": "application/json" };
  if (state.key) headers.Authorization = "Bearer " + state.key;
  const response = await fetch(path, { ...(options || {}), headers });
  if (response.status === 401) {
    askKey(state.key ? "That key was refused." : "This server needs an API key.");
    throw new Error("API key needed");
  }
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) message = body.error.message;
    } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function askKey(message) {
  $("key-form").hidden = false;
  $("key-message").textContent = message || "";
  $("key-input").focus();
}

// -- configs ---------------------------------------------------------------------------------

async function loadConfigs() {
  const body = await (await api("/ui/api/configs")).json();
  state.configs = body.configs;
  for (const id of ["config", "rails-config", "eval-config"]) {
    const select = $(id);
    select.textContent = "";
    for (const config of body.configs) select.appendChild(el("option", { value: config.id }, config.id));
    if (body.configs.some((c) => c.id === body.default)) select.value = body.default;
  }
  describeConfig();
}

function describeConfig() {
  const config = state.configs.find((c) => c.id === $("config").value);
  if (!config) return;
  if (config.error) { $("config-info").textContent = "not served: " + config.error; return; }
  const rails = config.rails.map(([stage, rail]) => stage + ": " + rail).join(", ") || "no rails";
  $("config-info").textContent =
    config.mode.replace("_", "-") + ", chunk_size " + config.chunk_size +
    ", context_size " + config.context_size + " | " + rails;
}

// -- the conversation ------------------------------------------------------------------------

function addMessage(role, content, tool) {
  const row = el("div", { className: "message", "data-role": role });
  row.appendChild(el("span", { className: "role" }, role === "tool" ? "tool result" : role));
  if (role === "tool") {
    row.appendChild(el("input", { className: "tool-name", placeholder: "tool name", value: tool || "lookup" }));
  }
  const text = el("textarea", { rows: role === "user" ? "3" : "2", "data-testid": "message-" + role });
  text.value = content || "";
  row.appendChild(text);
  const remove = el("button", { type: "button", className: "ghost remove", title: "remove" }, "x");
  remove.addEventListener("click", () => row.remove());
  row.appendChild(remove);
  $("messages").appendChild(row);
  return text;
}

function conversation() {
  const messages = [];
  let calls = 0;
  for (const row of $("messages").children) {
    const role = row.dataset.role;
    const content = row.querySelector("textarea").value;
    if (role === "tool") {
      // A tool result answers a call: the assistant turn that made it comes first.
      const id = "call_console_" + (++calls);
      const name = row.querySelector(".tool-name").value || "tool";
      messages.push({ role: "assistant", content: "", tool_calls: [
        { id, type: "function", function: { name, arguments: "{}" } }] });
      messages.push({ role: "tool", tool_call_id: id, content });
    } else {
      messages.push({ role, content });
    }
  }
  return messages;
}

// -- one run ---------------------------------------------------------------------------------

function newRun() {
  return { events: [], windows: new Map(), rails: [], units: [], releases: [], block: null,
           model: null, summary: null, end: 0, mode: null };
}

async function send() {
  showError("");
  const messages = conversation();
  const config_id = $("config").value;
  const mode = $("mode").value || null;
  state.run = newRun();
  $("answer").textContent = "";
  $("refusal").textContent = "";
  $("refusal").hidden = true;
  $("raw").textContent = "";
  $("status").textContent = "streaming…";
  document.body.dataset.state = "running";
  renderTimeline();
  const last = messages.filter((m) => m.role === "user").pop();
  share(config_id, last ? last.content : "", mode, messages.length === 1);
  try {
    await stream("/ui/api/run", { config_id, messages, mode }, onEvent);
  } catch (error) {
    showError(error.message);
    $("status").textContent = "failed";
  } finally {
    document.body.dataset.state = "done";
  }
}

function share(config, prompt, mode, simple) {
  const link = $("share");
  if (!simple || !prompt) { link.hidden = true; return; }
  const params = new URLSearchParams({ config, prompt });
  if (mode) params.set("mode", mode);
  link.href = "/ui?" + params.toString();
  link.hidden = false;
}

// XMLHttpRequest rather than fetch: its progress events stream the body as it arrives, and a
// browser counts the request as pending until the stream ends (so headless dumps wait for it).
function stream(path, body, handle) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    let seen = 0, buffer = "";
    xhr.open("POST", path);
    xhr.setRequestHeader("Content-Type", "application/json");
    if (state.key) xhr.setRequestHeader("Authorization", "Bearer " + state.key);
    const take = () => {
      if (xhr.status !== 200) return;
      buffer += xhr.responseText.slice(seen);
      seen = xhr.responseText.length;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = "message", data = null;
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data = line.slice(6);
        }
        if (data !== null && data !== "[DONE]") handle(name, JSON.parse(data));
      }
    };
    xhr.onprogress = take;
    xhr.onerror = () => reject(new Error("the server could not be reached"));
    xhr.onload = () => {
      if (xhr.status === 200) { take(); resolve(); return; }
      if (xhr.status === 401) {
        askKey(state.key ? "That key was refused." : "This server needs an API key.");
        reject(new Error("API key needed"));
        return;
      }
      let message = xhr.status + " " + xhr.statusText;
      try { message = JSON.parse(xhr.responseText).error.message || message; } catch (e) { /* not JSON */ }
      reject(new Error(message));
    };
    xhr.send(JSON.stringify(body));
  });
}

function onEvent(name, data) {
  const run = state.run;
  if (name === "chunk") return onChunk(data);
  run.events.push(data);
  const t = typeof data.t === "number" ? data.t : data.ended_at;
  if (typeof t === "number") run.end = Math.max(run.end, t);
  switch (data.type) {
    case "console.run": run.mode = data.mode; break;
    case "guardrails.window.started": {
      run.windows.set(data.window, { ...data, rails: [], verdict: "checking" });
      for (const at of data.arrivals || []) run.units.push(at);
      break;
    }
    case "guardrails.window.checked": {
      const w = run.windows.get(data.window);
      if (w) Object.assign(w, { verdict: data.decision, checked: data });
      break;
    }
    case "guardrails.window.released": run.releases.push(data); break;
    case "guardrails.stream.ended": for (const at of data.arrivals || []) run.units.push(at); break;
    case "console.model.ended": run.model = data; break;
    case "console.debug.token": $("debug-raw").hidden = false; $("raw").textContent += data.text; break;
    case "console.summary": run.summary = data; finish(); break;
    default:
      if (data.type && data.type.startsWith("guardrails.rail.") && data.decision) {
        run.rails.push(data);
        const w = data.window === null ? null : run.windows.get(data.window);
        if (w) w.rails.push(data);
      }
  }
  scheduleRender();
}

function onChunk(chunk) {
  if (chunk.error) { showError(chunk.error.message); return; }
  const choice = (chunk.choices || [])[0];
  if (!choice) { if (chunk.usage) state.run.usage = chunk.usage; return; }
  const delta = choice.delta || {};
  if (delta.refusal) {
    $("refusal").textContent = delta.refusal;
    $("refusal").hidden = false;
  } else if (delta.content) {
    $("answer").textContent += delta.content;
  }
  if (choice.finish_reason) state.run.finish = choice.finish_reason;
}

function finish() {
  const run = state.run, s = run.summary;
  for (const w of run.windows.values()) if (w.verdict === "checking") w.verdict = "unchecked";
  const parts = ["finish: " + (run.finish || "?"), "mode: " + (run.mode || "?").replace("_", "-")];
  if (s.blocked) {
    parts.push("blocked by " + s.stage + " rail “" + s.rail + "”" + (s.reason ? ": " + s.reason : ""));
    if (s.stage === "output") parts.push("model units after the block: " + s.units_after_block);
  } else parts.push("passed");
  if (run.model) parts.push("model " + (run.model.stopped ? "stopped by the rails" : "finished"));
  if (run.usage) parts.push("tokens " + run.usage.prompt_tokens + " in / " + run.usage.completion_tokens + " out");
  $("status").textContent = parts.join(" · ");
  $("status").dataset.blocked = String(s.blocked);
}

// -- the timeline ----------------------------------------------------------------------------

let pending = false;
function scheduleRender() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; renderTimeline(); });
}

const ms = (s) => (s * 1000).toFixed(s < 0.01 ? 2 : 1) + " ms";

function renderTimeline() {
  const box = $("timeline");
  box.textContent = "";
  const run = state.run;
  if (!run) return;
  const span = Math.max(run.end, 0.001) * 1.05;
  const x = (t) => (100 * t / span).toFixed(3) + "%";
  const lane = (label) => {
    const row = el("div", { className: "lane" });
    row.appendChild(el("div", { className: "lane-label" }, label));
    const track = el("div", { className: "track" });
    row.appendChild(track);
    box.appendChild(row);
    return track;
  };
  const bar = (track, from, to, attrs, text) => {
    const node = el("div", attrs, text);
    node.style.left = x(from);
    node.style.width = "max(3px, " + x(Math.max(to - from, 0)) + ")";
    track.appendChild(node);
    return node;
  };
  const inputs = run.rails.filter((r) => r.window === null);
  if (inputs.length) {
    const track = lane("input / tool rails");
    for (const r of inputs) {
      const title = r.stage + " rail " + r.rail + ": " + r.decision + " in " + ms(r.duration);
      bar(track, r.started_at, r.ended_at, { className: "rail " + r.decision, "data-testid": "input-rail",
        "data-verdict": r.decision, title });
      // The name beside the bar: a fast rail's bar is too narrow to hold it.
      const name = el("span", { className: "bar-label", title }, r.rail + " " + r.decision);
      name.style.left = "calc(" + x(r.ended_at) + " + 6px)";
      track.appendChild(name);
    }
  }
  const units = lane("units from model");
  for (const at of run.units) units.appendChild(tick(x(at), "unit"));
  const windows = lane("windows checked");
  for (const w of run.windows.values()) {
    // From its first new unit's arrival to its verdict: the units it covers, then its check.
    const from = (w.arrivals && w.arrivals.length) ? w.arrivals[0] : w.t;
    const end = w.checked ? w.checked.ended_at : run.end;
    const node = bar(windows, from, end, { className: "window " + w.verdict, "data-testid": "window",
      "data-verdict": w.verdict, "data-window": String(w.window) }, "w" + w.window + " " + w.verdict);
    node.title = windowText(w);
    node.addEventListener("mouseenter", () => { $("detail").textContent = windowText(w); });
  }
  const released = lane("units released");
  for (const r of run.releases) {
    const times = r.times || [r.t];
    for (const at of times) {
      const mark = released.appendChild(tick(x(at), "release"));
      mark.title = "units " + r.first_unit + "–" + (r.end_unit - 1) + " released at " + ms(r.t);
    }
  }
  const s = run.summary;
  if (s && s.blocked && s.block_at !== null && s.block_at !== undefined) {
    const marker = el("div", { className: "block-marker", "data-testid": "block",
      title: "blocked by " + s.rail + (s.reason ? ": " + s.reason : "") });
    marker.style.left = "calc(var(--label) + (100% - var(--label)) * " + (s.block_at / span).toFixed(4) + ")";
    marker.appendChild(el("span", { className: s.block_at / span > 0.6 ? "left" : "" }, "block: " + s.rail));
    box.appendChild(marker);
  } else if (s && s.blocked) {
    box.appendChild(el("div", { className: "block-note", "data-testid": "block" },
      "blocked before generation by " + s.stage + " rail “" + s.rail + "”"));
  }
  if (run.model) {
    const stop = el("div", { className: "model-marker", "data-testid": "model-end",
      title: run.model.stopped ? "model stream closed by the rails" : "model finished" });
    stop.style.left = "calc(var(--label) + (100% - var(--label)) * " + (run.model.t / span).toFixed(4) + ")";
    const after = s && s.blocked && s.stage === "output" ? " (" + s.units_after_block + " units after block)" : "";
    stop.appendChild(el("span", { className: run.model.t / span > 0.6 ? "left" : "" },
      (run.model.stopped ? "model stopped" : "model done") + after));
    box.appendChild(stop);
  }
  const axis = el("div", { className: "axis small muted" }, "0 ms … " + ms(span));
  box.appendChild(axis);
}

function tick(left, kind) {
  const node = el("div", { className: "tick " + kind });
  node.style.left = left;
  return node;
}

function windowText(w) {
  const run = state.run;
  const lines = ["window " + w.window + ": units " + w.first_unit + "–" + (w.end_unit - 1) +
    " (new from " + w.new_first_unit + ")" + (w.final ? ", last" : "") + " · " + w.verdict +
    (w.checked ? " in " + ms(w.checked.duration) : "")];
  for (const r of w.rails) lines.push("  " + r.rail + ": " + r.decision + " in " + ms(r.duration));
  const s = run.summary;
  if (w.verdict === "blocked" && s && s.reason) lines.push("  reason: " + s.reason);
  return lines.join("\n");
}

// -- rails -----------------------------------------------------------------------------------

async function loadRails() {
  const config = $("rails-config").value;
  if (!config) return;
  const body = await (await api("/ui/api/rails?config_id=" + encodeURIComponent(config))).json();
  const rows = $("rails-body");
  rows.textContent = "";
  for (const r of body.rails) {
    const row = el("tr", { "data-testid": "rail-row", "data-rail": r.rail });
    for (const value of [r.stage, r.rail, r.calls, r.blocks, r.errors,
      r.p50_ms === null ? "–" : r.p50_ms, r.p95_ms === null ? "–" : r.p95_ms]) {
      row.appendChild(el("td", {}, String(value)));
    }
    rows.appendChild(row);
  }
  $("rails-note").textContent = !body.metrics ? "metrics are off on this server" :
    body.all_requests_timed ? "since start, every request" :
    "blocks and errors: every request; runs and latency: console runs (serve with --rail-metrics for all)";
}

// -- eval ------------------------------------------------------------------------------------

async function loadDatasets() {
  const body = await (await api("/ui/api/datasets")).json();
  const select = $("eval-dataset");
  select.textContent = "";
  for (const d of body.datasets) select.appendChild(el("option", { value: d.name }, d.name + " (" + d.examples + ")"));
}

async function runEval() {
  showError("");
  const request = { config_id: $("eval-config").value };
  const file = $("eval-file").files[0];
  if (file) { request.jsonl = await file.text(); request.name = file.name; }
  else request.dataset = $("eval-dataset").value;
  $("eval-status").textContent = "running…";
  try {
    const body = await (await api("/ui/api/eval", { method: "POST", body: JSON.stringify(request) })).json();
    $("eval-report").srcdoc = body.html;
    $("eval-status").textContent = body.examples + " examples of " + body.dataset + " with " + body.config_id;
  } catch (error) {
    $("eval-status").textContent = "failed";
    showError(error.message);
  }
}

// -- start -----------------------------------------------------------------------------------

function showTab(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.tab === name);
  for (const page of document.querySelectorAll(".page")) page.hidden = page.id !== name;
  if (name === "rails") loadRails().catch((e) => showError(e.message));
  if (name === "eval" && !$("eval-dataset").options.length) loadDatasets().catch((e) => showError(e.message));
}

async function start() {
  const debug = document.body.dataset.debug === "1";
  $("debug-banner").hidden = !debug;
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showTab(tab.dataset.tab));
  for (const button of document.querySelectorAll("[data-add]")) button.addEventListener("click", () => addMessage(button.dataset.add));
  $("send").addEventListener("click", send);
  $("config").addEventListener("change", describeConfig);
  $("rails-config").addEventListener("change", () => loadRails().catch((e) => showError(e.message)));
  $("rails-refresh").addEventListener("click", () => loadRails().catch((e) => showError(e.message)));
  $("eval-run").addEventListener("click", runEval);
  $("key-button").addEventListener("click", () => askKey(""));
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.key = $("key-input").value;
    sessionStorage.setItem("lcg-api-key", state.key);
    $("key-form").hidden = true;
    boot();
  });
  const params = new URLSearchParams(location.search);
  addMessage("user", params.get("prompt") || "");
  if (params.get("mode")) $("mode").value = params.get("mode");
  boot();
}

async function boot() {
  const params = new URLSearchParams(location.search);
  try {
    await loadConfigs();
  } catch (error) {
    if (error.message !== "API key needed") showError(error.message);
    return;
  }
  if (params.get("config")) {
    if (!state.configs.some((c) => c.id === params.get("config"))) {
      showError("config " + params.get("config") + " is not served here");
      return;
    }
    $("config").value = params.get("config");
    describeConfig();
  }
  if (params.get("prompt") && !state.ran) {
    state.ran = true;  // a shared link runs once, by itself
    await send();
  }
}

document.addEventListener("DOMContentLoaded", start);
