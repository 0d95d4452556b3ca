// Telecare control-centre console: plain JS, no build step. All data is rendered with textContent.
"use strict";

const TOKEN_KEY = "telecare.token";
const OUTCOMES = [
  ["false_alarm", "False alarm"], ["reassured", "Reassured"], ["contact_attended", "Contact attended"],
  ["responder_attended", "Responder attended"], ["ambulance", "Ambulance"], ["fire", "Fire service"],
  ["police", "Police"], ["equipment_fault", "Equipment fault"], ["test", "Test call"],
];
const LABELS = {
  personal_trigger: "Pendant / trigger", fall: "Fall", smoke: "Smoke", co: "Carbon monoxide", gas: "Gas",
  heat: "Heat", flood: "Flood", temperature_low: "Low temperature", temperature_high: "High temperature",
  out_of_bed: "Out of bed", left_flat: "Left the flat", not_up: "Not up", inactivity: "Inactivity",
  not_in_bed: "Not in bed", tamper: "Tamper", mains_fail: "Mains failure", hub_offline: "Hub offline",
  data_gap: "Data gap", device_offline: "Device offline", battery_low: "Battery low",
};
const TOP_PRIORITY = 2;

const state = {
  token: sessionStorage.getItem(TOKEN_KEY), user: null, alerts: new Map(), lastEventId: null,
  audio: null, soundOn: true, beeps: 0, openPicker: null, streamAbort: null, tab: "queue",
};

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "onclick") node.addEventListener("click", value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

function toast(message) {
  const node = $("toast");
  node.textContent = message;
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { node.hidden = true; }, 4000);
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json", ...(options.headers || {}) },
  });
  if (response.status === 401) { signOut("Your session has ended; please sign in again."); throw new Error("401"); }
  if (!response.ok) {
    let detail = `${response.status}`;
    try { const body = await response.json(); if (typeof body.detail === "string") detail = body.detail; } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return response.json();
}

// ---- sign in -------------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const token = $("token").value.trim();
  $("signin-error").textContent = "";
  state.token = token;
  // The click is the user gesture browsers need before sound may play.
  ensureAudio();
  try {
    await start();
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token").value = "";
  } catch (error) {
    state.token = null;
    $("signin-error").textContent = error.message === "401" ? "That token was not accepted." : `Sign-in failed: ${error.message}`;
  }
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  if (state.streamAbort) state.streamAbort.abort();
  $("app").hidden = true; $("signin").hidden = false; $("signout").hidden = true; $("sound").hidden = true;
  $("who").textContent = "";
  setLive(false);
  if (message) $("signin-error").textContent = message;
}

async function start() {
  state.user = await api("/api/users/me");
  $("who").textContent = `${state.user.display_name} · ${state.user.role}`;
  $("signin").hidden = true; $("app").hidden = false; $("signout").hidden = false; $("sound").hidden = false;
  await loadQueue();
  stream();
}

// ---- sound ---------------------------------------------------------------------------------

function ensureAudio() {
  if (!state.audio && window.AudioContext) state.audio = new AudioContext();
  if (state.audio && state.audio.state === "suspended") state.audio.resume();
}

function beep() {
  state.beeps += 1;
  document.body.dataset.beeps = String(state.beeps);
  if (!state.soundOn || !state.audio) return;
  const now = state.audio.currentTime;
  for (let i = 0; i < 3; i += 1) {
    const osc = state.audio.createOscillator();
    const gain = state.audio.createGain();
    osc.type = "square"; osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, now + i * 0.3);
    gain.gain.exponentialRampToValueAtTime(0.001, now + i * 0.3 + 0.2);
    osc.connect(gain).connect(state.audio.destination);
    osc.start(now + i * 0.3); osc.stop(now + i * 0.3 + 0.2);
  }
}

// ---- queue and live stream -----------------------------------------------------------------

async function loadQueue() {
  const queue = await api("/api/alerts?status=open&limit=1000");
  state.alerts = new Map(queue.alerts.map((alert) => [alert.alert_id, alert]));
  state.lastEventId = queue.stream_after;
  renderQueue();
}

function setLive(on) {
  $("live").textContent = on ? "live" : "offline";
  $("live").className = `live ${on ? "on" : "off"}`;
}

// fetch() instead of EventSource: the token goes in a header, never in a URL or a log.
async function stream() {
  while (state.token) {
    const controller = new AbortController();
    state.streamAbort = controller;
    try {
      const headers = { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" };
      if (state.lastEventId !== null) headers["Last-Event-ID"] = String(state.lastEventId);
      const response = await fetch("/api/alerts/stream", { headers, signal: controller.signal, cache: "no-store" });
      if (response.status === 401) { signOut("Your session has ended; please sign in again."); return; }
      if (!response.ok || !response.body) throw new Error(`stream ${response.status}`);
      setLive(true);
      await readEvents(response.body.getReader());
    } catch (error) {
      if (!state.token) return;
    }
    setLive(false);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function readEvents(reader) {
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let id = null; let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("id: ")) id = Number(line.slice(4));
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) applyChange(JSON.parse(data));
      if (id !== null) state.lastEventId = id;
    }
  }
}

function applyChange(message) {
  const alert = message.alert;
  const known = state.alerts.get(alert.alert_id);
  if (alert.status === "closed") state.alerts.delete(alert.alert_id);
  else state.alerts.set(alert.alert_id, { ...alert, _new: !known });
  const fresh = !known && alert.status !== "closed";
  if ((fresh || message.change === "escalated" || message.change === "repeated") && alert.priority <= TOP_PRIORITY) beep();
  renderQueue();
  if (state.tab === "kpis" && alert.status === "closed") loadKpis();
}

function ageText(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function sortedAlerts() {
  return [...state.alerts.values()].sort((a, b) => a.priority - b.priority
    || Date.parse(a.queued_at) - Date.parse(b.queued_at) || a.alert_id - b.alert_id);
}

function renderQueue() {
  const body = $("queue-body");
  const rows = sortedAlerts().map(renderAlert);
  body.replaceChildren(...rows);
  $("queue-count").textContent = String(state.alerts.size);
  $("queue-empty").hidden = state.alerts.size > 0;
  updateAges();
}

function renderAlert(alert) {
  const canHandle = state.user && (state.user.role === "operator" || state.user.role === "admin");
  const row = el("tr", { class: `alert p${alert.priority}${alert._new ? " new" : ""}`,
    dataset: { alertId: String(alert.alert_id), status: alert.status, priority: String(alert.priority) } });
  alert._new = false;
  const condition = el("td", {}, el("span", { class: "condition" }, LABELS[alert.condition] || alert.condition));
  if (alert.repeat_count > 0) condition.append(el("span", { class: "sub" }, ` ×${alert.repeat_count + 1}`));
  if (alert.escalation_level > 0) condition.append(el("span", { class: "escalated" }, "▲ escalated"));
  if (alert.cleared_at) condition.append(el("div", { class: "sub" }, "restored at device"));
  const resident = el("td", {});
  if (alert.resident_id) {
    resident.append(el("button", { class: "link", type: "button", onclick: () => showResident(alert.resident_id) },
      alert.resident_name || alert.resident_id));
    if (alert.flat) resident.append(el("div", { class: "sub" }, alert.flat));
  } else {
    resident.append(el("span", { class: "sub" }, `hub ${alert.hub_id || ""}`));
  }
  const status = el("td", {}, el("span", { class: "status-text" }, alert.status));
  if (alert.claimed_by) status.append(el("div", { class: "sub" }, `by ${alert.claimed_by}`));
  const actions = el("td", {}, canHandle ? renderActions(alert) : el("span", { class: "sub" }, "view only"));
  row.append(
    el("td", {}, el("span", { class: "badge" }, `P${alert.priority}`)), condition, resident,
    el("td", { class: "age", dataset: { since: alert.queued_at } }, ""), status, actions,
  );
  return row;
}

function renderActions(alert) {
  const box = el("div", { class: "actions" });
  if (alert.status === "raised") {
    box.append(el("button", { type: "button", class: "primary", dataset: { act: "claim" }, onclick: () => act(alert, "claim") }, "Claim"));
  }
  if (alert.status === "raised" || alert.status === "claimed") {
    box.append(el("button", { type: "button", dataset: { act: "ack" }, onclick: () => act(alert, "acknowledge") }, "Acknowledge"));
  }
  box.append(el("button", { type: "button", dataset: { act: "close" }, onclick: () => togglePicker(alert.alert_id) }, "Close…"));
  if (state.openPicker === alert.alert_id) {
    const picker = el("div", { class: "outcomes-picker", role: "group", "aria-label": "Outcome" });
    for (const [code, label] of OUTCOMES) {
      picker.append(el("button", { type: "button", dataset: { outcome: code }, onclick: () => closeWith(alert, code) }, label));
    }
    box.append(picker);
  }
  return box;
}

function togglePicker(alertId) {
  state.openPicker = state.openPicker === alertId ? null : alertId;
  renderQueue();
}

async function act(alert, action) {
  try {
    const updated = await api(`/api/alerts/${alert.alert_id}/${action}`, { method: "POST" });
    state.alerts.set(updated.alert_id, updated);
    renderQueue();
  } catch (error) { toast(`Could not ${action}: ${error.message}`); }
}

async function closeWith(alert, outcome) {
  try {
    await api(`/api/alerts/${alert.alert_id}/close`, { method: "POST", body: JSON.stringify({ outcome }) });
    state.alerts.delete(alert.alert_id);
    state.openPicker = null;
    renderQueue();
    toast("Alert closed");
  } catch (error) { toast(`Could not close: ${error.message}`); }
}

function updateAges() {
  const now = Date.now();
  for (const cell of document.querySelectorAll("td.age")) {
    const seconds = (now - Date.parse(cell.dataset.since)) / 1000;
    cell.textContent = ageText(seconds);
    cell.className = `age${seconds > 180 ? " late" : seconds > 60 ? " warn" : ""}`;
  }
}

// ---- resident panel ------------------------------------------------------------------------

async function showResident(residentId) {
  try {
    const detail = await api(`/api/residents/${encodeURIComponent(residentId)}`);
    const r = detail.resident;
    $("resident-name").textContent = r.display_name;
    $("resident-meta").textContent = `${r.flat || ""} · night ${r.night_start.slice(0, 5)}–${r.night_end.slice(0, 5)} · ${r.timezone}`;
    $("resident-protocol").textContent = detail.protocol ? detail.protocol.protocol || "(none written)" : "(none written)";
    $("resident-contacts").replaceChildren(...detail.contacts.map((c) =>
      el("li", {}, `${c.name} (${c.relationship || "contact"}) `, el("a", { href: `tel:${c.phone}` }, c.phone), c.keyholder ? " · keyholder" : "")));
    $("resident-conditions").replaceChildren(...(detail.open_conditions.length ? detail.open_conditions.map((c) =>
      el("li", {}, `${LABELS[c.condition] || c.condition} since ${new Date(c.opened_at).toLocaleTimeString()}`))
      : [el("li", { class: "muted" }, "none")]));
    $("resident-devices").replaceChildren(...detail.devices.map((d) =>
      el("li", {}, `${d.friendly_name} (${d.device_type}, ${d.location})`,
        el("span", { class: d.battery_low || d.availability === "offline" ? "bad" : "muted" },
          ` ${d.battery ?? "?"}% · ${d.availability || "unknown"}`))));
    $("resident-events").replaceChildren(...(detail.recent_events.length ? detail.recent_events.map((e) =>
      el("li", {}, `${new Date(e.time).toLocaleTimeString()} ${e.kind}${e.is_restore ? " (restore)" : ""} · ${e.location}`))
      : [el("li", { class: "muted" }, "none in the last 2 days")]));
    $("resident").hidden = false;
  } catch (error) { toast(`Could not open resident: ${error.message}`); }
}

// ---- devices and KPIs ----------------------------------------------------------------------

async function loadDevices() {
  const devices = await api("/api/devices");
  const now = Date.now();
  $("devices-body").replaceChildren(...devices.map((d) => {
    const stale = d.last_seen ? (now - Date.parse(d.last_seen)) / 1000 : null;
    return el("tr", { dataset: { deviceId: d.device_id } },
      el("td", {}, d.resident_name || d.resident_id || "—"), el("td", {}, d.friendly_name), el("td", {}, d.device_type),
      el("td", {}, d.location),
      el("td", { class: d.battery_low ? "bad" : "" }, d.battery === null ? "—" : `${d.battery}%`),
      el("td", { class: stale === null || stale > 4 * 3600 ? "bad" : "" }, stale === null ? "never" : `${ageText(stale)} ago`),
      el("td", { class: d.availability === "offline" ? "bad" : "good" }, d.availability || "unknown"));
  }));
}

function percent(value) { return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)} %`; }

async function loadKpis() {
  const k = await api("/api/kpis");
  $("kpi-alerts").textContent = String(k.alerts);
  $("kpi-ack60").textContent = percent(k.ack_within_60s);
  $("kpi-ack180").textContent = percent(k.ack_within_180s);
  $("kpi-closed").textContent = String(k.closed);
  $("kpi-open").textContent = String(k.open);
  $("kpi-close").textContent = k.close_s_p50 === null ? "–" : ageText(k.close_s_p50);
  $("kpi-outcomes").replaceChildren(...Object.entries(k.outcomes).map(([code, n]) =>
    el("li", { dataset: { outcome: code } }, `${(OUTCOMES.find((o) => o[0] === code) || [code, code])[1]}: ${n}`)));
}

function showTab(name) {
  state.tab = name;
  for (const button of document.querySelectorAll(".tabs button")) button.classList.toggle("active", button.dataset.tab === name);
  for (const tab of ["queue", "devices", "kpis"]) $(`tab-${tab}`).hidden = tab !== name;
  const load = name === "devices" ? loadDevices : name === "kpis" ? loadKpis : null;
  if (load) load().catch((error) => toast(`Could not load: ${error.message}`));
}

// ---- wiring --------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", () => signOut(""));
  $("resident-close").addEventListener("click", () => { $("resident").hidden = true; });
  $("sound").addEventListener("click", () => {
    state.soundOn = !state.soundOn;
    ensureAudio();
    $("sound").textContent = state.soundOn ? "Sound on" : "Sound off";
  });
  for (const button of document.querySelectorAll(".tabs button")) button.addEventListener("click", () => showTab(button.dataset.tab));
  setInterval(updateAges, 1000);
  document.body.dataset.beeps = "0";
  if (state.token) start().catch(() => signOut(""));
});
