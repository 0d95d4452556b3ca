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
const ACTIONS = [
  ["called_resident", "Called resident"], ["called_contact", "Called contact"],
  ["dispatched_responder", "Sent responder"], ["responder_attended", "Responder attended"],
  ["emergency_services", "999 / emergency services"], ["note", "Note"],
];
const TOP_PRIORITY = 2;
// The control-centre answer targets (TEC Quality Standards): 97.5 % within 60 s, 99 % within 180 s.
const ANSWER_TARGET_S = 60;
const ANSWER_LIMIT_S = 180;
// Battery devices check in at least daily (Zigbee2MQTT marks them offline after 25 h of silence).
const SILENT_AFTER_S = 25 * 3600;
const UNANSWERED = new Set(["raised", "claimed"]);
// 24-hour local time everywhere: a 3 a.m. "3:05:04 AM" is one misread away from 3 p.m.
const CLOCK = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
const DAY_CLOCK = new Intl.DateTimeFormat("en-GB", { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

const state = {
  token: sessionStorage.getItem(TOKEN_KEY), user: null, alerts: new Map(), lastEventId: null,
  audio: null, soundOn: true, beeps: 0, openPicker: null, openActions: null, streamAbort: null, tab: "queue",
  panelResident: null, panelAlert: null, noteDraft: "",
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

function clockTime(iso) {
  const at = new Date(iso);
  return Date.now() - at.getTime() < 20 * 3600 * 1000 ? CLOCK.format(at) : DAY_CLOCK.format(at);
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
  $("queue-summary").hidden = false;
  document.querySelector("[data-tab=priorities]").hidden = state.user.role !== "admin";
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
      let id = null; let data = ""; let kind = "message";
      for (const line of block.split("\n")) {
        if (line.startsWith("id: ")) id = Number(line.slice(4));
        else if (line.startsWith("event: ")) kind = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      // The server ends the stream when the token is revoked or expires, or the user's access changes.
      if (kind === "end") { signOut("Your session has ended; please sign in again."); return; }
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
  if (state.panelResident && alert.resident_id === state.panelResident) refreshPanel();
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

// Rows are rebuilt only when their alert changed: a live change arriving between an operator's mouse-down
// and mouse-up must not swallow the click by replacing the button under the pointer.
const rowCache = new Map();

function rowFor(alert) {
  // What the row shows, normalised: the same alert from a POST answer and from the stream gives the same key.
  const shown = ["status", "priority", "condition", "repeat_count", "escalation_level", "claimed_by",
    "resident_name", "flat", "address", "access_notes", "hub_id"].map((name) => alert[name] ?? null);
  const times = ["queued_at", "acknowledged_at", "cleared_at"].map((name) => (alert[name] ? Date.parse(alert[name]) : null));
  const fresh = alert._new;
  const key = JSON.stringify([shown, times, state.openPicker === alert.alert_id, state.openActions === alert.alert_id]);
  const cached = rowCache.get(alert.alert_id);
  if (cached && cached.key === key && !fresh) return cached.node;
  const node = renderAlert(alert);
  rowCache.set(alert.alert_id, { key, node });
  return node;
}

function renderQueue() {
  const body = $("queue-body");
  const rows = sortedAlerts().map(rowFor);
  for (const id of rowCache.keys()) if (!state.alerts.has(id)) rowCache.delete(id);
  const same = rows.length === body.children.length && rows.every((row, index) => body.children[index] === row);
  if (!same) body.replaceChildren(...rows);
  $("queue-count").textContent = String(state.alerts.size);
  $("queue-empty").hidden = state.alerts.size > 0;
  const byPriority = new Map();
  for (const alert of state.alerts.values()) byPriority.set(alert.priority, (byPriority.get(alert.priority) || 0) + 1);
  $("queue-depth").textContent = String(state.alerts.size);
  $("queue-by-priority").textContent = [...byPriority.entries()].sort((a, b) => a[0] - b[0])
    .map(([p, n]) => `P${p}: ${n}`).join(" · ");
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
    resident.append(el("button", { class: "link", type: "button", onclick: () => showResident(alert.resident_id, alert.alert_id) },
      alert.resident_name || alert.resident_id));
    resident.append(el("div", { class: "address-line" }, alert.address || alert.flat || "no address on record"));
    if (alert.access_notes) resident.append(el("div", { class: "access-line" }, `Access: ${alert.access_notes}`));
  } else {
    resident.append(el("span", { class: "sub" }, `hub ${alert.hub_id || ""}`));
  }
  const status = el("td", {}, el("span", { class: "status-text" }, alert.status));
  if (alert.claimed_by) status.append(el("div", { class: "sub" }, `by ${alert.claimed_by}`));
  const actions = el("td", {}, canHandle ? renderActions(alert) : el("span", { class: "sub" }, "view only"));
  row.append(
    el("td", {}, el("span", { class: "badge" }, `P${alert.priority}`)), condition, resident,
    el("td", {}, el("span", { class: "time" }, clockTime(alert.queued_at)),
      el("div", { class: "age sub", dataset: { since: alert.queued_at } }, "")),
    el("td", {}, el("span", { class: "countdown", dataset: { since: alert.queued_at, answered: UNANSWERED.has(alert.status) ? "" : (alert.acknowledged_at || "yes") } }, "")),
    status, actions,
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
  if (alert.status === "acknowledged") {
    box.append(el("button", { type: "button", dataset: { act: "record" }, onclick: () => openActions(alert.alert_id) }, "Record action…"));
  }
  box.append(el("button", { type: "button", dataset: { act: "close" }, onclick: () => openPicker(alert.alert_id) }, "Close…"));
  if (state.openActions === alert.alert_id) {
    const note = el("input", { type: "text", maxlength: "2000", placeholder: "Note (optional)", "aria-label": "Action note", class: "action-note" });
    // The queue re-renders on every live change: a half-typed note must survive it.
    note.value = state.noteDraft;
    note.addEventListener("input", () => { state.noteDraft = note.value; });
    const form = el("div", { class: "action-form", role: "group", "aria-label": "Record an action" }, note);
    for (const [code, label] of ACTIONS) {
      form.append(el("button", { type: "button", dataset: { action: code }, onclick: () => recordAction(alert, code, note.value) }, label));
    }
    form.append(el("button", { type: "button", class: "ghost", onclick: () => hidePickers() }, "Cancel"));
    box.append(form);
  }
  if (state.openPicker === alert.alert_id) {
    const picker = el("div", { class: "outcomes-picker", role: "group", "aria-label": "Outcome" });
    for (const [code, label] of OUTCOMES) {
      picker.append(el("button", { type: "button", dataset: { outcome: code }, onclick: () => closeWith(alert, code) }, label));
    }
    picker.append(el("button", { type: "button", class: "ghost", onclick: () => hidePickers() }, "Cancel"));
    box.append(picker);
  }
  return box;
}

// Opening is idempotent (a double click or a retried click leaves it open); Cancel closes it.
function openPicker(alertId) {
  state.openPicker = alertId;
  state.openActions = null;
  renderQueue();
}

function openActions(alertId) {
  if (state.openActions !== alertId) state.noteDraft = "";
  state.openActions = alertId;
  state.openPicker = null;
  renderQueue();
}

function hidePickers() {
  state.openPicker = null;
  state.openActions = null;
  renderQueue();
}

async function recordAction(alert, action, note) {
  try {
    const updated = await api(`/api/alerts/${alert.alert_id}/actions`, { method: "POST", body: JSON.stringify({ action, note }) });
    state.alerts.set(updated.alert_id, updated);
    state.openActions = null;
    state.noteDraft = "";
    renderQueue();
    toast(`Recorded: ${(ACTIONS.find((a) => a[0] === action) || [action, action])[1]}`);
    if (state.panelResident === alert.resident_id) refreshPanel();
  } catch (error) { toast(`Could not record the action: ${error.message}`); }
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
    if (state.panelResident === alert.resident_id) refreshPanel();
  } catch (error) { toast(`Could not close: ${error.message}`); }
}

function updateAges() {
  const now = Date.now();
  for (const cell of document.querySelectorAll(".age[data-since]")) {
    const seconds = (now - Date.parse(cell.dataset.since)) / 1000;
    cell.textContent = `waiting ${ageText(seconds)}`;
    cell.className = `age sub${seconds > ANSWER_LIMIT_S ? " late" : seconds > ANSWER_TARGET_S ? " warn" : ""}`;
  }
  // The 60 s answer target counts down until the alarm is acknowledged, then shows how long it took.
  for (const cell of document.querySelectorAll(".countdown")) {
    const since = Date.parse(cell.dataset.since);
    if (cell.dataset.answered) {
      const took = cell.dataset.answered === "yes" ? null : (Date.parse(cell.dataset.answered) - since) / 1000;
      cell.textContent = took === null ? "answered" : `answered in ${ageText(took)}`;
      cell.className = "countdown done";
      continue;
    }
    const left = ANSWER_TARGET_S - (now - since) / 1000;
    cell.textContent = left >= 0 ? `${Math.ceil(left)} s left` : `${ageText(-left)} over`;
    cell.className = `countdown ${left > 20 ? "ok" : left >= 0 ? "warn" : "late"}`;
  }
  let oldest = null;
  for (const alert of state.alerts.values()) {
    if (UNANSWERED.has(alert.status) && (oldest === null || Date.parse(alert.queued_at) < oldest)) oldest = Date.parse(alert.queued_at);
  }
  const waited = oldest === null ? null : (now - oldest) / 1000;
  $("oldest-unanswered").textContent = waited === null ? "none" : ageText(waited);
  $("oldest-unanswered").className = waited === null ? "" : waited > ANSWER_LIMIT_S ? "late" : waited > ANSWER_TARGET_S ? "warn" : "";
  $("clock").textContent = CLOCK.format(new Date(now));
}

// ---- resident panel ------------------------------------------------------------------------

async function showResident(residentId, alertId = null) {
  state.panelResident = residentId;
  state.panelAlert = alertId;
  await refreshPanel();
}

function contactItem(contact) {
  const call = el("a", { href: `tel:${contact.phone.replace(/[^0-9+]/g, "")}`, class: "call", dataset: { contact: String(contact.contact_id) } },
    `Call ${contact.phone}`);
  // Dialling goes to the softphone or desk phone through the tel: link; the console records the call.
  call.addEventListener("click", () => recordCall(contact));
  return el("li", { dataset: { callOrder: String(contact.call_order) } },
    el("strong", {}, contact.name), ` (${contact.relationship || "contact"})${contact.keyholder ? " · keyholder" : ""} `, call);
}

async function recordCall(contact) {
  const alert = state.alerts.get(state.panelAlert);
  if (!alert || alert.status !== "acknowledged") { toast("Acknowledge the alarm to record calls against it"); return; }
  const code = contact.relationship === "resident" ? "called_resident" : "called_contact";
  await recordAction(alert, code, `${contact.name} ${contact.phone}`);
}

function pastAlertItem(alert) {
  const outcome = alert.outcome ? (OUTCOMES.find((o) => o[0] === alert.outcome) || [alert.outcome, alert.outcome])[1] : alert.status;
  const actions = alert.actions.length ? ` · ${alert.actions.map((a) => (ACTIONS.find((x) => x[0] === a) || [a, a])[1]).join(", ")}` : "";
  return el("li", { dataset: { alertId: String(alert.alert_id), outcome: alert.outcome || "" } },
    `${clockTime(alert.queued_at)} ${LABELS[alert.condition] || alert.condition}: `, el("strong", {}, outcome), actions,
    alert.close_note ? el("div", { class: "sub" }, alert.close_note) : "");
}

function isoDay(moment) {
  return `${moment.getFullYear()}-${String(moment.getMonth() + 1).padStart(2, "0")}-${String(moment.getDate()).padStart(2, "0")}`;
}

function nightItem(night) {
  const onset = night.sleep_onset ? CLOCK.format(new Date(night.sleep_onset)).slice(0, 5) : "?";
  const wake = night.wake ? CLOCK.format(new Date(night.wake)).slice(0, 5) : "?";
  return el("li", {}, `${night.night_of}: asleep ${onset}, up ${wake}, ${night.bed_exits ?? 0} time(s) out of bed`
    + ` (${Math.round(night.minutes_out_of_bed ?? 0)} min), ${night.door_exits ?? 0} door exit(s)`);
}

async function refreshPanel() {
  const residentId = state.panelResident;
  if (!residentId) return;
  try {
    const lastNight = new Date(Date.now() - 36 * 3600 * 1000);
    const firstNight = new Date(lastNight.getTime() - 6 * 86400 * 1000);
    const [detail, history, nights] = await Promise.all([
      api(`/api/residents/${encodeURIComponent(residentId)}`),
      api(`/api/residents/${encodeURIComponent(residentId)}/history`),
      // What the night summaries learnt: the evidence reports' own endpoint, last 7 finished nights.
      api(`/api/reports/residents/${encodeURIComponent(residentId)}/nights?from=${isoDay(firstNight)}&to=${isoDay(lastNight)}`)
        .catch(() => []),
    ]);
    if (state.panelResident !== residentId) return;
    const r = detail.resident;
    const protocol = detail.protocol || {};
    $("resident-name").textContent = r.display_name;
    $("resident-address").textContent = r.address || r.flat || "No address on record";
    $("resident-meta").textContent = `${r.flat || ""} · night ${r.night_start.slice(0, 5)}–${r.night_end.slice(0, 5)} · ${r.timezone}`;
    $("resident-access").textContent = protocol.access_notes || "No access notes: ask the first keyholder.";
    $("resident-protocol").textContent = protocol.protocol || "No protocol written: call the resident, then contacts in order.";
    $("resident-medical").textContent = protocol.medical_notes ? `Medical: ${protocol.medical_notes}` : "";
    $("resident-contacts").replaceChildren(...(detail.contacts.length ? detail.contacts.map(contactItem)
      : [el("li", { class: "bad" }, "No contacts on record")]));
    $("resident-open").replaceChildren(...(detail.open_alerts.length ? detail.open_alerts.map((a) =>
      el("li", { dataset: { alertId: String(a.alert_id) } }, `${LABELS[a.condition] || a.condition} · ${a.status} since ${clockTime(a.queued_at)}`))
      : [el("li", { class: "muted" }, "none")]));
    const past = history.alerts.filter((a) => a.status === "closed");
    $("resident-alarms").replaceChildren(...(past.length ? past.slice(0, 10).map(pastAlertItem)
      : [el("li", { class: "muted" }, "none in the last 30 days")]));
    const known = nights.filter((night) => night.status === "ok").reverse();
    $("resident-nights").replaceChildren(...(known.length ? known.map(nightItem)
      : [el("li", { class: "muted" }, "no nights summarised yet")]));
    // A condition whose alarm was closed is handled, even if the device has not reported a restore.
    const live = detail.open_conditions.filter((c) => c.alert_status !== "closed");
    $("resident-conditions").replaceChildren(...(live.length ? live.map((c) =>
      el("li", {}, `${LABELS[c.condition] || c.condition} since ${clockTime(c.opened_at)}`))
      : [el("li", { class: "muted" }, "none")]));
    $("resident-devices").replaceChildren(...detail.devices.map((d) =>
      el("li", {}, `${d.friendly_name} (${d.device_type}, ${d.location})`,
        el("span", { class: d.battery_low || d.availability === "offline" ? "bad" : "muted" },
          ` ${powerText(d)} · ${d.availability || "availability not reported"}`))));
    $("resident-events").replaceChildren(...(detail.recent_events.length ? detail.recent_events.map((e) =>
      el("li", {}, `${clockTime(e.time)} ${e.kind}${e.is_restore ? " (restore)" : ""} · ${e.location}`))
      : [el("li", { class: "muted" }, "none in the last 2 days")]));
    $("resident").hidden = false;
  } catch (error) { toast(`Could not open resident: ${error.message}`); }
}

// ---- devices and KPIs ----------------------------------------------------------------------

function powerText(device) {
  if (device.battery !== null && device.battery !== undefined) return `battery ${device.battery}%${device.battery_low ? " (low)" : ""}`;
  if (device.battery_low) return "battery low";
  if (device.power_source && !/battery/i.test(device.power_source)) return "mains";
  return "battery not reported yet";
}

function lastHeard(device) {
  const times = [device.last_seen, device.availability_at].filter(Boolean).map(Date.parse);
  return times.length ? Math.max(...times) : null;
}

// Which attention group a device belongs to: the board shows the ones needing a visit first.
function deviceGroup(device, now) {
  if (device.availability === "offline") return "offline";
  const heard = lastHeard(device);
  const since = heard ?? (device.registered_at ? Date.parse(device.registered_at) : now);
  if ((now - since) / 1000 > SILENT_AFTER_S) return "silent";
  if (device.battery_low || (device.battery !== null && device.battery !== undefined && device.battery <= 20)) return "battery";
  return "ok";
}

const DEVICE_GROUPS = [
  ["offline", "Offline: the hub says it cannot reach these"],
  ["silent", "Silent: nothing heard for over 25 hours"],
  ["battery", "Low battery: replace at the next visit"],
  ["ok", "Working"],
];

async function loadDevices() {
  const devices = await api("/api/devices?limit=5000");
  const now = Date.now();
  const groups = new Map(DEVICE_GROUPS.map(([key]) => [key, []]));
  for (const device of devices) groups.get(deviceGroup(device, now)).push(device);
  const rows = [];
  for (const [key, title] of DEVICE_GROUPS) {
    const members = groups.get(key);
    if (!members.length) continue;
    rows.push(el("tr", { class: `group ${key}`, dataset: { group: key } }, el("th", { colspan: "7" }, `${title} (${members.length})`)));
    for (const d of members) {
      const heard = lastHeard(d);
      rows.push(el("tr", { class: "device", dataset: { deviceId: d.device_id, group: key } },
        el("td", {}, d.resident_name || d.resident_id || "—"), el("td", {}, d.friendly_name), el("td", {}, d.device_type),
        el("td", {}, d.location),
        el("td", { class: key === "battery" ? "bad" : "" }, powerText(d)),
        el("td", { class: key === "silent" ? "bad" : "" }, heard === null ? "not heard since registered" : `${clockTime(new Date(heard).toISOString())} (${ageText((now - heard) / 1000)} ago)`),
        el("td", { class: d.availability === "offline" ? "bad" : d.availability === "online" ? "good" : "muted" }, d.availability || "not reported")));
    }
  }
  $("devices-body").replaceChildren(...rows);
  $("devices-summary").textContent = DEVICE_GROUPS.map(([key]) => `${key}: ${groups.get(key).length}`).join(" · ");
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

// ---- priority table (administrators) -------------------------------------------------------

async function loadPriorities() {
  const select = $("priorities-org");
  if (!select.options.length) {
    const orgs = await api("/api/organisations");
    select.replaceChildren(...orgs.map((o) => el("option", { value: o.org_id }, `${o.name} (${o.org_id})`)));
  }
  const orgId = select.value;
  if (!orgId) return;
  const rows = await api(`/api/organisations/${encodeURIComponent(orgId)}/priorities`);
  // Another organisation was picked while this one loaded: its own load will draw the table.
  if (select.value !== orgId) return;
  $("priorities-body").replaceChildren(...rows.map(priorityRow));
  $("priorities-body").dataset.org = orgId;
}

function priorityRow(row) {
  const input = (name, min, max) => el("input", { type: "number", min: String(min), max: String(max), value: String(row[name]), name, "aria-label": `${row.condition} ${name}` });
  const fields = [input("priority", 1, 9), input("repeat_bump", 0, 8), input("escalate_after_s", 0, 86400)];
  const save = el("button", { type: "button", class: "primary", dataset: { act: "save" }, onclick: () => savePriority(row.condition, fields) }, "Save");
  const reset = el("button", { type: "button", dataset: { act: "reset" }, onclick: () => resetPriority(row.condition) }, "Default");
  reset.disabled = !row.overridden;
  return el("tr", { dataset: { condition: row.condition, overridden: String(row.overridden) } },
    el("td", {}, LABELS[row.condition] || row.condition), el("td", {}, row.category),
    ...fields.map((field) => el("td", {}, field)),
    el("td", { class: "sub" }, `P${row.default_priority}, +${row.default_repeat_bump}, ${row.default_escalate_after_s} s`
      + (row.overridden ? ` · changed by ${row.updated_by}` : "")),
    el("td", {}, el("div", { class: "actions" }, save, reset)));
}

async function savePriority(condition, fields) {
  const body = Object.fromEntries(fields.map((field) => [field.name, Number(field.value)]));
  try {
    await api(`/api/organisations/${encodeURIComponent($("priorities-org").value)}/priorities/${condition}`, { method: "PUT", body: JSON.stringify(body) });
    toast(`Saved: ${LABELS[condition] || condition} is now P${body.priority}`);
    await loadPriorities();
  } catch (error) { toast(`Could not save: ${error.message}`); }
}

async function resetPriority(condition) {
  try {
    await api(`/api/organisations/${encodeURIComponent($("priorities-org").value)}/priorities/${condition}`, { method: "DELETE" });
    toast(`${LABELS[condition] || condition} is back to the default`);
    await loadPriorities();
  } catch (error) { toast(`Could not reset: ${error.message}`); }
}

function showTab(name) {
  state.tab = name;
  for (const button of document.querySelectorAll(".tabs button")) button.classList.toggle("active", button.dataset.tab === name);
  for (const tab of ["queue", "devices", "kpis", "priorities"]) $(`tab-${tab}`).hidden = tab !== name;
  const load = { devices: loadDevices, kpis: loadKpis, priorities: loadPriorities }[name];
  if (load) load().catch((error) => toast(`Could not load: ${error.message}`));
}

// ---- wiring --------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", () => signOut(""));
  $("resident-close").addEventListener("click", () => { $("resident").hidden = true; state.panelResident = null; });
  $("sound").addEventListener("click", () => {
    state.soundOn = !state.soundOn;
    ensureAudio();
    $("sound").textContent = state.soundOn ? "Sound on" : "Sound off";
  });
  for (const button of document.querySelectorAll(".tabs button")) button.addEventListener("click", () => showTab(button.dataset.tab));
  $("priorities-org").addEventListener("change", () => loadPriorities().catch((error) => toast(`Could not load: ${error.message}`)));
  setInterval(updateAges, 1000);
  document.body.dataset.beeps = "0";
  if (state.token) start().catch(() => signOut(""));
});
