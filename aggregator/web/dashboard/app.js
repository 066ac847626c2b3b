// The Faultline dashboard: plain modern JS, no dependencies, no inline code (the page's CSP
// allows only this file). Talks to the /v1 API of its own origin on the session cookie; every
// change carries the CSRF token that login returned. Text goes into the DOM as text only.
"use strict";

const kPageSize = 25;
const kCsrfKey = "faultline.csrf";  // sessionStorage: this tab only, gone when it closes

const $ = (id) => document.getElementById(id);
const state = { me: null, cursors: [""], page: 0, nextCursor: null, incident: null };

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function announce(message) {
  $("status").textContent = message;
}

function localTime(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : at.toLocaleString();
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// One API call; a 401 drops the session and shows the login form.
async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["X-CSRF-Token"] = sessionStorage.getItem(kCsrfKey) || "";
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let doc = null;
  try {
    doc = await response.json();
  } catch (e) {
    doc = null;
  }
  if (!response.ok) {
    const error = (doc && doc.error) || {};
    if (response.status === 401 && !path.startsWith("/v1/auth/login")) {
      showLogin("Your session ended: sign in again.");
    }
    throw new ApiError(response.status, error.code || "http_" + response.status,
                       error.message || response.statusText, doc);
  }
  return doc;
}

function show(view) {
  for (const id of ["login-view", "list-view", "detail-view"]) $(id).hidden = id !== view;
  const signedIn = view !== "login-view";
  $("nav").hidden = !signedIn;
  $("who").hidden = !signedIn;
}

function focusHeading(id) {
  $(id).focus();
}

function showLogin(message) {
  state.me = null;
  sessionStorage.removeItem(kCsrfKey);
  show("login-view");
  $("login-error").textContent = message || "";
  $("login-email").focus();
}

async function onLogin(event) {
  event.preventDefault();
  const body = { email: $("login-email").value.trim(), password: $("login-password").value };
  const tenant = $("login-tenant").value.trim();
  if (tenant) body.tenant = tenant;
  if (!body.email || !body.password) {
    $("login-error").textContent = "Enter your e-mail and password.";
    return;
  }
  try {
    const doc = await api("POST", "/v1/auth/login", body);
    sessionStorage.setItem(kCsrfKey, doc.csrf_token);
    $("login-password").value = "";
    $("login-error").textContent = "";
    await loadMe();
    location.hash = "#/incidents";
    route();
  } catch (e) {
    if (e.code === "tenant_required") {
      $("login-error").textContent = "You belong to several tenants: name one.";
      $("login-tenant").focus();
    } else if (e.status === 429) {
      $("login-error").textContent = "Too many attempts: wait a moment and try again.";
    } else {
      $("login-error").textContent = e.status === 401 ? "Wrong e-mail or password." : e.message;
    }
  }
}

async function onLogout() {
  try {
    await api("POST", "/v1/auth/logout");
  } catch (e) {
    // The session may already be gone; the form is shown either way.
  }
  showLogin("Signed out.");
}

async function loadMe() {
  state.me = await api("GET", "/v1/auth/me");
  $("who-tenant").textContent = state.me.tenant || state.me.tenant_id;
  $("who-user").textContent = (state.me.email || state.me.actor) + " (" + state.me.role + ")";
}

function badge(text, prefix) {
  return el("span", text, "badge " + prefix + String(text).toLowerCase());
}

async function loadList() {
  const params = new URLSearchParams({ limit: String(kPageSize) });
  const status = $("status-filter").value;
  if (status) params.set("status", status);
  const cursor = state.cursors[state.page];
  if (cursor) params.set("cursor", cursor);
  const doc = await api("GET", "/v1/incidents?" + params.toString());
  const rows = $("incident-rows");
  rows.replaceChildren();
  for (const incident of doc.incidents) {
    const row = el("tr");
    row.append(el("td"), el("td"));
    row.cells[0].append(badge(incident.status, "state-"));
    row.cells[1].append(badge(incident.severity, "sev-"));
    const title = el("td");
    const link = el("a", incident.title || incident.id);
    link.href = "#/incidents/" + encodeURIComponent(incident.id);
    title.append(link);
    row.append(title, el("td", (incident.services || []).join(", ")),
               el("td", localTime(incident.first_event_at || incident.opened_at)));
    rows.append(row);
  }
  $("list-empty").hidden = doc.incidents.length !== 0;
  state.nextCursor = doc.next_cursor || null;
  $("next-page").disabled = !state.nextCursor;
  $("first-page").disabled = state.page === 0;
  const count = doc.incidents.length;
  announce(count + (count === 1 ? " incident" : " incidents") + " on page " + (state.page + 1) + ".");
}

function renderDetail(incident) {
  state.incident = incident;
  $("detail-title").textContent = incident.title || incident.id;
  $("detail-state").replaceChildren(badge(incident.status, "state-"));
  $("detail-severity").replaceChildren(badge(incident.severity, "sev-"));
  $("detail-services").textContent = (incident.services || []).join(", ");
  $("detail-started").textContent = localTime(incident.first_event_at || incident.opened_at);
  $("detail-events").textContent = String(incident.event_total ?? incident.event_count);
  $("detail-assignee").textContent = incident.assignee || "nobody";
  // Only an active incident (triggered or acknowledged) moves forward from here.
  $("acknowledge").disabled = incident.status !== "triggered";
  $("resolve").disabled = incident.status !== "triggered" && incident.status !== "acknowledged";

  const rca = $("rca-rows");
  rca.replaceChildren();
  const candidates = (incident.rca && incident.rca.candidates) || [];
  candidates.forEach((candidate, index) => {
    const evidence = el("td");
    for (const id of candidate.evidence || []) {
      const link = el("a", id, "mono");
      link.href = "#ev-" + id;  // the row in the events table below
      link.addEventListener("click", (event) => {
        event.preventDefault();  // keep the hash route; move to the row instead
        const target = document.getElementById("ev-" + id);
        if (target) {
          target.scrollIntoView({ block: "center" });
          target.focus();
        }
      });
      evidence.append(link, document.createTextNode(" "));
    }
    const confidence = Math.round((candidate.confidence || 0) * 100) + "%";
    const row = el("tr");
    row.append(el("td", index + 1), el("td", candidate.kind), el("td", candidate.name),
               el("td", candidate.service), el("td", confidence), evidence);
    rca.append(row);
  });
  if (candidates.length === 0) {
    const row = el("tr");
    const cell = el("td", "No candidates yet.");
    cell.colSpan = 6;
    row.append(cell);
    rca.append(row);
  }

  const chain = $("chain");
  chain.replaceChildren();
  for (const step of incident.chain || []) {
    const item = el("li");
    item.append(el("strong", step.service), document.createTextNode(" at " + localTime(step.at)));
    if (step.via) item.append(document.createTextNode(" via " + step.via));
    item.append(document.createTextNode(" "), el("span", step.event_id, "mono"));
    chain.append(item);
  }
  if (!chain.children.length) chain.append(el("li", "No chain."));

  const timeline = $("timeline");
  timeline.replaceChildren();
  for (const entry of incident.timeline || []) {
    const detail = entry.detail && Object.keys(entry.detail).length
      ? " " + JSON.stringify(entry.detail) : "";
    timeline.append(el("li", localTime(entry.at) + " · " + entry.kind + " by " + entry.actor +
                             detail));
  }
  if (!timeline.children.length) timeline.append(el("li", "Nothing yet."));

  const events = $("event-rows");
  events.replaceChildren();
  for (const event of incident.events || []) {
    const row = el("tr");
    row.id = "ev-" + event.event_id;
    row.tabIndex = -1;
    row.append(el("td", localTime(event.occurred_at)), el("td", event.service));
    const severity = el("td");
    severity.append(badge(event.severity, "sev-"));
    row.append(severity, el("td", event.status), el("td", event.title),
               el("td", event.event_id, "mono"));
    events.append(row);
  }
}

async function loadDetail(id) {
  renderDetail(await api("GET", "/v1/incidents/" + encodeURIComponent(id)));
}

async function transition(action) {
  const incident = state.incident;
  if (!incident) return;
  const button = $(action);
  button.disabled = true;
  try {
    await api("POST", "/v1/incidents/" + encodeURIComponent(incident.id) + "/" + action, {});
    await loadDetail(incident.id);
    announce("Incident " + (action === "acknowledge" ? "acknowledged" : "resolved") + ".");
  } catch (e) {
    announce("Could not " + action + ": " + e.message);
    button.disabled = false;
  }
}

// Views by hash: #/incidents and #/incidents/<id>.
async function route() {
  if (!state.me) return;
  const match = location.hash.match(/^#\/incidents\/(.+)$/);
  try {
    if (match) {
      show("detail-view");
      await loadDetail(decodeURIComponent(match[1]));
      focusHeading("detail-title");
    } else {
      show("list-view");
      await loadList();
      focusHeading("list-title");
    }
  } catch (e) {
    if (e.status !== 401) announce("Could not load: " + e.message);
  }
}

async function start() {
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);
  $("refresh").addEventListener("click", () => loadList().catch((e) => announce(e.message)));
  $("status-filter").addEventListener("change", () => {
    state.cursors = [""];
    state.page = 0;
    loadList().catch((e) => announce(e.message));
  });
  $("next-page").addEventListener("click", () => {
    if (!state.nextCursor) return;
    state.page += 1;
    state.cursors[state.page] = state.nextCursor;
    loadList().catch((e) => announce(e.message));
  });
  $("first-page").addEventListener("click", () => {
    state.page = 0;
    loadList().catch((e) => announce(e.message));
  });
  $("acknowledge").addEventListener("click", () => transition("acknowledge"));
  $("resolve").addEventListener("click", () => transition("resolve"));
  window.addEventListener("hashchange", route);
  // The session cookie is HttpOnly and the CSRF token lives in this tab only: without the
  // token, changes would be refused, so a tab that has none signs in again.
  if (!sessionStorage.getItem(kCsrfKey)) {
    showLogin("");
    return;
  }
  try {
    await loadMe();
  } catch (e) {
    if (e.status !== 401) showLogin("Could not reach the server: " + e.message);
    return;
  }
  await route();
}

document.addEventListener("DOMContentLoaded", start);
