// The Faultline dashboard: plain modern JS, no dependencies, no inline code (the page's CSP
// allows only this file). Talks to the /v1 API of its own origin on the session cookie; every
// change carries the CSRF token that login returned. Text goes into the DOM as text only.
"use strict";

const kPageSize = 25;
const kCsrfKey = "faultline.csrf";  // sessionStorage: this tab only, gone when it closes

const $ = (id) => document.getElementById(id);
const kAuditRoles = ["owner", "admin"];
const kSvg = "http://www.w3.org/2000/svg";
const kMaxGraphNodes = 300;  // beyond this: the incident's neighbourhood, or the best connected
const kMaxLiveRows = 200;    // live events kept on screen above the first page
const state = {
  me: null, cursors: [""], page: 0, nextCursor: null, incident: null,
  events: { cursors: [""], page: 0, nextCursor: null, byId: new Map(), source: null, live: 0 },
  agents: { cursors: [""], page: 0, nextCursor: null },
  audit: { cursors: [""], page: 0, nextCursor: null },
  graph: null,  // the drawn graph's incident id, the latest version, the incident's version
};

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
  for (const id of ["login-view", "list-view", "detail-view", "graph-view", "events-view",
                    "agents-view", "audit-view", "noise-view", "integrations-view"]) {
    $(id).hidden = id !== view;
  }
  if (view !== "events-view") stopLive();
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
  // The audit log is for owners and admins (audit.read); others do not see the link.
  $("nav-audit").hidden = !kAuditRoles.includes(state.me.role);
  $("nav-integrations").hidden = !kAuditRoles.includes(state.me.role);  // integrations.list
  await loadTenants();
}

// A user in several tenants can switch. A session belongs to one tenant, so switching swaps it
// for one there (no password); if that fails, the sign-in form comes back filled in.
async function loadTenants() {
  const select = $("tenant-select");
  select.replaceChildren();
  $("tenant-switch").hidden = true;
  if (!state.me.email) return;
  const doc = await api("GET", "/v1/tenants?limit=100");
  if (doc.tenants.length < 2) return;
  for (const tenant of doc.tenants) {
    const option = el("option", `${tenant.name} (${tenant.role})`);
    option.value = tenant.name;
    option.selected = tenant.current;
    select.append(option);
  }
  $("tenant-switch").hidden = false;
}

async function onSwitchTenant() {
  const tenant = $("tenant-select").value;
  const email = state.me.email;
  try {
    const doc = await api("POST", "/v1/auth/switch-tenant", { tenant });
    sessionStorage.setItem(kCsrfKey, doc.csrf_token);
    await loadMe();
    location.hash = "#/incidents";
    route();
    announce("Switched to " + tenant + ".");
    return;
  } catch (e) {
    if (e.status !== 401 && e.status !== 404) {
      announce("Could not switch: " + e.message);
      await loadTenants();  // the select back on the current tenant
      return;
    }
  }
  showLogin("Sign in to " + tenant + ".");
  $("login-email").value = email;
  $("login-tenant").value = tenant;
  $("login-password").focus();
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
  const open = ["triggered", "acknowledged", "resolved"].includes(incident.status);
  $("close-incident").disabled = !open;
  $("open-graph").href = graphHash(incident.id, incident.graph_version);  // the graph it knew
  $("assign-to").value = incident.assignee || "";

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
  for (const entry of incident.timeline || []) timeline.append(timelineItem(entry));
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

// One timeline entry: comments show their text, assignments and state changes from -> to.
function timelineItem(entry) {
  const item = el("li", null, "kind-" + entry.kind);
  const detail = entry.detail || {};
  item.append(el("span", localTime(entry.at), "when"), document.createTextNode(" · "));
  if (entry.kind === "comment") {
    item.append(el("strong", entry.actor), document.createTextNode(" commented: "));
    item.append(el("q", detail.text || ""));
  } else if (entry.kind === "assignee") {
    item.append(document.createTextNode("assigned to "), el("strong", detail.to || "nobody"));
    item.append(document.createTextNode(" (was " + (detail.from || "nobody") + ") by " +
                                        entry.actor));
  } else if (entry.kind === "opened" && detail.title) {
    item.append(document.createTextNode("opened by " + entry.actor + " with "),
                el("strong", detail.title), document.createTextNode(
                  detail.service ? " on " + detail.service : ""));
  } else if (entry.kind === "postmortem") {
    item.append(el("strong", entry.actor), document.createTextNode(
      detail.bytes ? " saved the postmortem (" + detail.bytes + " bytes)"
                   : " cleared the postmortem"));
  } else if (entry.kind === "status") {
    item.append(document.createTextNode("state " + (detail.from || "?") + " → "),
                el("strong", detail.to || "?"), document.createTextNode(" by " + entry.actor));
  } else {
    const rest = Object.keys(detail).length ? " " + JSON.stringify(detail) : "";
    item.append(document.createTextNode(entry.kind + " by " + entry.actor + rest));
  }
  return item;
}

async function loadDetail(id) {
  renderDetail(await api("GET", "/v1/incidents/" + encodeURIComponent(id)));
  // Reloads after an action keep what the responder is typing; a new incident loads its own.
  if (state.postmortemFor !== id) await loadPostmortem(id);
}

function showPostmortemMeta(postmortem) {
  $("postmortem-meta").textContent = postmortem && postmortem.updated_at
    ? "Saved by " + postmortem.updated_by + " at " + localTime(postmortem.updated_at) + "."
    : "Not written yet.";
}

// The postmortem is its own document (empty until someone writes one).
async function loadPostmortem(id) {
  const postmortem =
    await api("GET", "/v1/incidents/" + encodeURIComponent(id) + "/postmortem");
  $("postmortem-text").value = postmortem.markdown || "";
  showPostmortemMeta(postmortem);
  state.postmortemFor = id;
}

async function onPostmortem(event) {
  event.preventDefault();
  const incident = state.incident;
  if (!incident) return;
  const button = $("save-postmortem");
  button.disabled = true;
  try {
    const saved = await api("PUT", "/v1/incidents/" + encodeURIComponent(incident.id) +
                            "/postmortem", { markdown: $("postmortem-text").value });
    showPostmortemMeta(saved);
    announce("Postmortem saved.");
  } catch (e) {
    announce("Could not save the postmortem: " + e.message);
  } finally {
    button.disabled = false;
  }
}

const kTransitions = {
  acknowledge: { button: "acknowledge", done: "acknowledged" },
  resolve: { button: "resolve", done: "resolved" },
  close: { button: "close-incident", done: "closed" },
};

async function transition(action) {
  const incident = state.incident;
  if (!incident) return;
  const button = $(kTransitions[action].button);
  button.disabled = true;
  try {
    await api("POST", "/v1/incidents/" + encodeURIComponent(incident.id) + "/" + action, {});
    await loadDetail(incident.id);
    announce("Incident " + kTransitions[action].done + ".");
  } catch (e) {
    announce("Could not " + action + ": " + e.message);
    button.disabled = false;
  }
}

async function assign(assignee) {
  const incident = state.incident;
  if (!incident) return;
  try {
    await api("PATCH", "/v1/incidents/" + encodeURIComponent(incident.id), { assignee });
    await loadDetail(incident.id);
    announce(assignee ? "Assigned to " + assignee + "." : "Unassigned.");
  } catch (e) {
    announce("Could not assign: " + e.message);
  }
}

async function onComment(event) {
  event.preventDefault();
  const incident = state.incident;
  const text = $("comment-text").value.trim();
  if (!incident) return;
  if (!text) {
    announce("Write a comment first.");
    $("comment-text").focus();
    return;
  }
  const button = $("add-comment");
  button.disabled = true;
  try {
    await api("POST", "/v1/incidents/" + encodeURIComponent(incident.id) + "/comments", { text });
    $("comment-text").value = "";
    await loadDetail(incident.id);
    announce("Comment added.");
  } catch (e) {
    announce("Could not comment: " + e.message);
  } finally {
    button.disabled = false;
  }
}

// Views by hash: #/incidents, #/incidents/<id>, #/graph, #/graph/<incident id>, #/events,
// #/events/<event id>, #/events/service/<name>,
// #/agents, #/noise, #/integrations, #/audit.
async function route() {
  if (!state.me) return;
  const match = location.hash.match(/^#\/incidents\/(.+)$/);
  const eventId = location.hash.match(/^#\/events\/(?!service\/)([^/]+)$/);
  const graph =
    location.hash.match(/^#\/graph(?:\/(?!version\/)([^/]+))?(?:\/version\/(\d+))?$/);
  try {
    if (graph) {
      show("graph-view");
      await loadGraph(graph[1] ? decodeURIComponent(graph[1]) : null, Number(graph[2] || 0));
      focusHeading("graph-title");
    } else if (location.hash === "#/agents") {
      show("agents-view");
      await loadAgents();
      $("tokens").hidden = !kAuditRoles.includes(state.me.role);  // agents.enroll
      $("token-made").hidden = true;
      $("token-command").value = "";
      if (!$("tokens").hidden) await loadTokens();
      focusHeading("agents-title");
    } else if (location.hash === "#/noise") {
      show("noise-view");
      await loadNoise();
      focusHeading("noise-title");
    } else if (location.hash === "#/integrations") {
      show("integrations-view");
      $("integration-made").hidden = true;
      $("integration-url").value = "";
      $("integration-error").textContent = "";
      await loadIntegrations();
      focusHeading("integrations-title");
    } else if (location.hash === "#/audit") {
      show("audit-view");
      await loadAudit();
      focusHeading("audit-title");
    } else if (location.hash.startsWith("#/events")) {
      const service = location.hash.match(/^#\/events\/service\/(.+)$/);
      if (service) {  // from a node of the graph: that service's events, from the first page
        $("ev-service").value = decodeURIComponent(service[1]);
        state.events.cursors = [""];
        state.events.page = 0;
      }
      show("events-view");
      await loadEvents();
      startLive();
      if (eventId) {
        await openEvent(decodeURIComponent(eventId[1]));
      } else {
        focusHeading("events-title");
      }
    } else if (match) {
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

// ---- Service graph: a small layered layout (longest-path layers, barycenter order) in SVG.

function svg(tag, attributes, text) {
  const node = document.createElementNS(kSvg, tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = String(text);
  return node;
}

// Nodes and directed edges (caller -> callee) in layers: cycles are broken by ignoring the
// edges that close them (found by a depth-first search), then each node sits one layer right
// of its deepest caller; a few barycenter sweeps order each layer to cut crossings.
function layeredLayout(names, edges) {
  const out = new Map(names.map((n) => [n, []]));
  for (const edge of edges) out.get(edge.from).push(edge.to);
  const colour = new Map();  // 1: on the DFS stack, 2: done
  const forward = [];
  const visit = (start) => {
    const stack = [[start, 0]];
    colour.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const next = out.get(top[0])[top[1]++];
      if (next === undefined) {
        colour.set(top[0], 2);
        stack.pop();
      } else if (!colour.has(next)) {
        forward.push([top[0], next]);
        colour.set(next, 1);
        stack.push([next, 0]);
      } else if (colour.get(next) === 2) {
        forward.push([top[0], next]);  // a cross or forward edge: no cycle
      }  // else a back edge: left out of the layering
    }
  };
  for (const name of names) if (!colour.has(name)) visit(name);
  // Longest path from the sources, in topological order (Kahn) over the acyclic edges.
  const indegree = new Map(names.map((n) => [n, 0]));
  const succ = new Map(names.map((n) => [n, []]));
  const pred = new Map(names.map((n) => [n, []]));
  for (const [from, to] of forward) {
    if (from === to) continue;
    succ.get(from).push(to);
    pred.get(to).push(from);
    indegree.set(to, indegree.get(to) + 1);
  }
  const layer = new Map(names.map((n) => [n, 0]));
  const queue = names.filter((n) => indegree.get(n) === 0);
  for (let i = 0; i < queue.length; ++i) {
    const from = queue[i];
    for (const to of succ.get(from)) {
      layer.set(to, Math.max(layer.get(to), layer.get(from) + 1));
      indegree.set(to, indegree.get(to) - 1);
      if (indegree.get(to) === 0) queue.push(to);
    }
  }
  // An edge across several layers gets a dummy node in each layer between: the ordering then
  // keeps room for it and it is drawn through them instead of across other boxes.
  const via = new Map();  // "from\n to" -> its dummies, in order
  const nextPred = new Map(names.map((n) => [n, []]));
  const nextSucc = new Map(names.map((n) => [n, []]));
  let dummies = 0;
  for (const from of names) {
    for (const to of succ.get(from)) {
      if (via.has(from + "\n" + to)) continue;  // the same pair of another origin
      let previous = from;
      const path = [];
      for (let at = layer.get(from) + 1; at < layer.get(to); ++at) {
        const dummy = "\u0000" + dummies++;
        layer.set(dummy, at);
        nextPred.set(dummy, [previous]);
        nextSucc.set(dummy, []);
        nextSucc.get(previous).push(dummy);
        path.push(dummy);
        previous = dummy;
      }
      nextSucc.get(previous).push(to);
      nextPred.get(to).push(previous);
      via.set(from + "\n" + to, path);
    }
  }
  const layers = [];
  for (const name of layer.keys()) {
    const at = layer.get(name);
    while (layers.length <= at) layers.push([]);
    layers[at].push(name);
  }
  const position = new Map();
  const renumber = () => layers.forEach((row) => row.forEach((n, i) => position.set(n, i)));
  renumber();
  const sweep = (rows, neighbours) => {
    for (const row of rows) {
      const weight = new Map(row.map((n) => {
        const around = neighbours.get(n);
        if (!around.length) return [n, position.get(n)];
        return [n, around.reduce((sum, m) => sum + position.get(m), 0) / around.length];
      }));
      row.sort((a, b) => weight.get(a) - weight.get(b) || a.localeCompare(b));
      row.forEach((n, i) => position.set(n, i));
    }
  };
  for (let round = 0; round < 4; ++round) {
    sweep(layers.slice(1), nextPred);
    sweep(layers.slice(0, -1).reverse(), nextSucc);
  }
  renumber();
  return { layers, layer, position, via };
}

const kNodeWidth = 168;
const kNodeHeight = 34;
const kColumnGap = 84;
const kRowGap = 22;
const kMargin = 16;

function shortName(name) {
  return name.length > 21 ? name.slice(0, 20) + "…" : name;
}

function drawGraph(graph, highlighted, chain) {
  const root = $("graph-svg");
  root.replaceChildren();
  let names = new Set();
  for (const service of graph.services || []) names.add(service.name);
  for (const edge of graph.edges || []) names.add(edge.from).add(edge.to);
  for (const name of highlighted) names.add(name);
  let edges = graph.edges || [];
  let trimmed = false;
  const total = names.size;
  if (names.size > kMaxGraphNodes) {
    // Too many to read: the incident's services and their direct neighbours only; without an
    // incident, the most connected services.
    let keep = new Set(highlighted);
    if (highlighted.size) {
      for (const edge of edges) {
        if (highlighted.has(edge.from)) keep.add(edge.to);
        if (highlighted.has(edge.to)) keep.add(edge.from);
      }
    } else {
      const degree = new Map();
      for (const edge of edges) {
        for (const end of [edge.from, edge.to]) degree.set(end, (degree.get(end) || 0) + 1);
      }
      keep = new Set([...names].sort((x, y) => (degree.get(y) || 0) - (degree.get(x) || 0) ||
                                               x.localeCompare(y)));
    }
    names = new Set([...keep].slice(0, kMaxGraphNodes));
    edges = edges.filter((e) => names.has(e.from) && names.has(e.to));
    trimmed = true;
  }
  const list = [...names].sort();
  const { layers, layer, position, via } = layeredLayout(list, edges);
  const tallest = Math.max(1, ...layers.map((row) => row.length));
  const width = kMargin * 2 + layers.length * kNodeWidth + (layers.length - 1) * kColumnGap;
  const height = kMargin * 2 + tallest * kNodeHeight + (tallest - 1) * kRowGap;
  root.setAttribute("viewBox", `0 0 ${Math.max(width, 200)} ${Math.max(height, 60)}`);
  root.setAttribute("width", String(Math.max(width, 200)));
  root.setAttribute("height", String(Math.max(height, 60)));
  const centre = (name) => {
    const rowSize = layers[layer.get(name)].length;
    const offset = (tallest - rowSize) * (kNodeHeight + kRowGap) / 2;
    return {
      x: kMargin + layer.get(name) * (kNodeWidth + kColumnGap) + kNodeWidth / 2,
      y: kMargin + offset + position.get(name) * (kNodeHeight + kRowGap) + kNodeHeight / 2,
    };
  };
  const defs = svg("defs");
  for (const [id, cls] of [["arrow", "arrow"], ["arrow-chain", "arrow-chain"]]) {
    const marker = svg("marker", {
      id, viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7",
      orient: "auto-start-reverse",
    });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: cls }));
    defs.append(marker);
  }
  root.append(defs);
  // Where an edge leaves and enters: the sides of the boxes facing each other.
  const ends = (from, to) => {
    const a = centre(from);
    const b = centre(to);
    if (layer.get(from) === layer.get(to)) {
      const down = a.y < b.y ? 1 : -1;
      return [a.x, a.y + down * kNodeHeight / 2, b.x, b.y - down * kNodeHeight / 2];
    }
    const right = a.x < b.x ? 1 : -1;
    return [a.x + right * kNodeWidth / 2, a.y, b.x - right * kNodeWidth / 2, b.y];
  };
  const curve = ([x1, y1, x2, y2]) => {
    const bend = Math.abs(x2 - x1) / 2;
    const dx = x2 >= x1 ? bend : -bend;
    return `M ${x1} ${y1} C ${x1 + dx} ${y1}, ${x2 - dx} ${y2}, ${x2} ${y2}`;
  };
  // A long edge: a curve into each dummy's slot, straight through it, and on.
  const routed = (from, to) => {
    const dummies = via.get(from + "\n" + to);
    if (!dummies || !dummies.length) return curve(ends(from, to));
    const [x1, y1] = ends(from, dummies[0]);
    let d = `M ${x1} ${y1}`;
    let at = [x1, y1];
    for (const dummy of dummies) {
      const { x, y } = centre(dummy);
      d += " " + curve([at[0], at[1], x - kNodeWidth / 2, y]).replace(/^M [^C]*/, "");
      d += ` L ${x + kNodeWidth / 2} ${y}`;
      at = [x + kNodeWidth / 2, y];
    }
    const [, , x2, y2] = ends(dummies[dummies.length - 1], to);
    return d + " " + curve([at[0], at[1], x2, y2]).replace(/^M [^C]*/, "");
  };
  const edgeGroup = svg("g", { class: "edges" });
  for (const edge of edges) {
    if (edge.from === edge.to) continue;
    const path = svg("path", {
      d: routed(edge.from, edge.to), "marker-end": "url(#arrow)",
      class: "edge " + (edge.origin === "declared" ? "declared" : "learned"),
    });
    path.append(svg("title", {}, `${edge.from} → ${edge.to} (${edge.origin})`));
    edgeGroup.append(path);
  }
  root.append(edgeGroup);
  // The chain: one path through the services in the order the incident's events reached them.
  const steps = chain.map((step) => step.service).filter((s, i, all) => names.has(s) &&
                                                                         s !== all[i - 1]);
  const chainGroup = svg("g", { class: "chain-path", id: "graph-chain-path" });
  for (let i = 1; i < steps.length; ++i) {
    chainGroup.append(svg("path", { d: curve(ends(steps[i - 1], steps[i])), class: "chain-edge",
                                    "marker-end": "url(#arrow-chain)",
                                    "data-from": steps[i - 1], "data-to": steps[i] }));
  }
  root.append(chainGroup);
  const nodeGroup = svg("g", { class: "nodes" });
  for (const name of list) {
    const { x, y } = centre(name);
    const lit = highlighted.has(name);
    const node = svg("g", { class: "node" + (lit ? " highlighted" : ""), "data-service": name });
    node.append(svg("title", {}, name + (lit ? " (in this incident)" : "")));
    node.append(svg("rect", { x: x - kNodeWidth / 2, y: y - kNodeHeight / 2, width: kNodeWidth,
                              height: kNodeHeight, rx: "6" }));
    node.append(svg("text", { x, y: y + 5, "text-anchor": "middle" }, shortName(name)));
    const order = steps.indexOf(name);
    if (order >= 0) {
      const bx = x - kNodeWidth / 2;
      const by = y - kNodeHeight / 2;
      node.append(svg("circle", { cx: bx, cy: by, r: "10", class: "step" }));
      node.append(svg("text", { x: bx, y: by + 4, "text-anchor": "middle", class: "step-number" },
                      order + 1));
    }
    // Each box is a link to the service's events: reachable with Tab, opened with Enter.
    const link = svg("a", { href: "#/events/service/" + encodeURIComponent(name),
                            "aria-label": name + (lit ? ", in this incident" : "") +
                                          ": its events" });
    link.append(node);
    nodeGroup.append(link);
  }
  root.append(nodeGroup);
  return { nodes: list.length, total, edges: edges.length, trimmed, steps };
}

// The address of a graph view: the incident's (if any) and a version (none: the incident's
// recorded version, else the one in force).
function graphHash(incidentId, version) {
  let hash = "#/graph";
  if (incidentId) hash += "/" + encodeURIComponent(incidentId);
  if (version) hash += "/version/" + version;
  return hash;
}

// The version picker: the newest 100 versions (GET /v1/service-graph/versions), and the drawn
// one should it be older.
function fillVersions(versions, drawn, incident) {
  const select = $("graph-version");
  select.replaceChildren();
  const list = versions.some((v) => v.version === drawn)
    ? versions : [...versions, { version: drawn, created_at: "", cause: "" }];
  list.forEach((v, i) => {
    let text = `Version ${v.version}`;
    if (i === 0 && v.version >= drawn) text += " (current)";
    if (incident && v.version === incident.graph_version) text += " (the incident's)";
    if (v.created_at) text += ", " + localTime(v.created_at);
    if (v.cause) text += ": " + (v.cause.length > 80 ? v.cause.slice(0, 79) + "…" : v.cause);
    const option = el("option", text);
    option.value = String(v.version);
    option.selected = v.version === drawn;
    select.append(option);
  });
}

async function loadGraph(incidentId, version) {
  let incident = null;
  if (incidentId) incident = await api("GET", "/v1/incidents/" + encodeURIComponent(incidentId));
  const wanted = version || (incident && incident.graph_version > 0 ? incident.graph_version : 0);
  const [graph, versions] = await Promise.all([
    api("GET", "/v1/service-graph" + (wanted ? "?version=" + wanted : "")),
    api("GET", "/v1/service-graph/versions?limit=100"),
  ]);
  const latest = versions.versions.length ? versions.versions[0].version : graph.version;
  state.graph = { incidentId: incident ? incident.id : null, latest,
                  recorded: incident ? incident.graph_version : 0 };
  fillVersions(versions.versions, graph.version, incident);
  const highlighted = new Set(incident ? incident.services || [] : []);
  const chain = incident ? incident.chain || [] : [];
  const drawn = drawGraph(graph, highlighted, chain);
  $("graph-back").hidden = !incident;
  if (incident) $("graph-back-link").href = "#/incidents/" + encodeURIComponent(incident.id);
  $("graph-title").textContent = incident
    ? "Service graph: " + (incident.title || incident.id) : "Service graph";
  let which = graph.version >= latest ? " (current)" : ` (current: ${latest})`;
  if (incident && graph.version === incident.graph_version) {
    which += ", the one the incident was opened under";
  }
  let summary = `Version ${graph.version}${which}: ${drawn.nodes} services, ${drawn.edges} edges.`;
  if (incident) {
    summary += ` Highlighted: ${[...highlighted].sort().join(", ") || "none"}.`;
    if (drawn.steps.length) summary += ` Chain: ${drawn.steps.join(" → ")}.`;
  }
  if (drawn.trimmed) {
    summary += ` Large graph: ${drawn.nodes} of its ${drawn.total} services drawn (` +
      (incident ? "the incident's and their neighbours)." : "the most connected).");
  }
  $("graph-summary").textContent = summary;
  const list = $("graph-chain");
  list.replaceChildren();
  for (const step of chain) {
    const item = el("li");
    item.append(el("strong", step.service), document.createTextNode(" at " + localTime(step.at)));
    if (step.via) item.append(document.createTextNode(" via " + step.via));
    list.append(item);
  }
  if (!list.children.length) {
    list.append(el("li", incident ? "No chain." : "Open the graph from an incident to see one."));
  }
  announce(summary);
}

// ---- Events: one page of GET /v1/events with filters, live rows from the stream on top.

function eventFilters() {
  const params = new URLSearchParams();
  for (const [id, name] of [["ev-service", "service"], ["ev-severity", "severity"],
                            ["ev-source", "source"], ["ev-decision", "decision"],
                            ["ev-text", "q"]]) {
    const value = $(id).value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

function timeFilters(params) {
  for (const [id, name] of [["ev-since", "since"], ["ev-until", "until"]]) {
    const value = $(id).value;  // local time, as the user sees it
    if (!value) continue;
    const at = new Date(value);
    if (!Number.isNaN(at.getTime())) params.set(name, at.toISOString());
  }
  return params;
}

function eventRow(event) {
  const row = el("tr");
  row.dataset.eventId = event.id;
  const severity = el("td");
  severity.append(badge(event.severity, "sev-"));
  const title = el("td");
  const link = el("a", event.title || event.id);
  link.href = "#/events/" + encodeURIComponent(event.id);
  link.addEventListener("click", (e) => {
    // The address names the event (a reload opens it again), but the list and its live rows
    // stay: pushState changes the hash without a hashchange.
    e.preventDefault();
    history.pushState(null, "", link.href);
    showEvent(event);
  });
  title.append(link);
  row.append(el("td", localTime(event.received_at)), el("td", event.service), severity,
             el("td", event.source), el("td", event.decision, "decision"), title);
  return row;
}

async function loadEvents() {
  const ev = state.events;
  const params = timeFilters(eventFilters());
  params.set("limit", String(kPageSize));
  const cursor = ev.cursors[ev.page];
  if (cursor) params.set("cursor", cursor);
  const doc = await api("GET", "/v1/events?" + params.toString());
  ev.byId = new Map();
  ev.live = 0;
  const rows = $("events-rows");
  rows.replaceChildren();
  for (const event of doc.events) {
    ev.byId.set(event.id, event);
    rows.append(eventRow(event));
  }
  $("events-empty").hidden = doc.events.length !== 0;
  ev.nextCursor = doc.next_cursor || null;
  $("ev-next").disabled = !ev.nextCursor;
  $("ev-first").disabled = ev.page === 0;
  $("event-detail").hidden = true;
  const count = doc.events.length;
  announce(count + (count === 1 ? " event" : " events") + " on page " + (ev.page + 1) + ".");
}

// #/events/<id>: the event from GET /v1/events/{id}, whether or not it is on this page.
async function openEvent(id) {
  try {
    showEvent(await api("GET", "/v1/events/" + encodeURIComponent(id)));
  } catch (e) {
    if (e.status !== 404) throw e;
    announce("No event " + id + " in this tenant.");
    focusHeading("events-title");
  }
}

function showEvent(event) {
  const facts = $("event-facts");
  facts.replaceChildren();
  const fact = (name, value) => {
    if (value === undefined || value === null || value === "") return;
    facts.append(el("dt", name), el("dd", value));
  };
  fact("Title", event.title);
  fact("Id", event.id);
  fact("Service", event.service);
  fact("Host", event.host);
  fact("Environment", event.environment);
  fact("Severity", event.severity);
  fact("Status", event.status);
  fact("Source", event.source);
  fact("Occurred", localTime(event.occurred_at));
  fact("Received", localTime(event.received_at));
  fact("Noise decision", event.decision);
  fact("Why", event.reason);
  fact("Rule", event.rule_id);
  fact("Fingerprint", event.fingerprint);
  const labels = Object.entries(event.labels || {}).map(([key, value]) => key + "=" + value);
  if (labels.length) fact("Labels", labels.join(", "));
  let raw = event.raw || "";
  try {
    raw = JSON.stringify(JSON.parse(raw), null, 2);
  } catch (e) {
    // not JSON (a log line, say): shown as it came
  }
  $("event-raw").textContent = raw || "(no raw payload kept)";
  $("event-detail-title").textContent = "Event: " + (event.title || event.id);
  $("event-detail").hidden = false;
  $("event-detail-title").focus();
}

function stopLive() {
  $("ev-live").removeAttribute("data-connected");  // set again when a stream opens
  if (state.events.source) {
    state.events.source.close();
    state.events.source = null;
  }
}

// Live rows arrive only on the first page and only while the box is ticked; the stream gets the
// same filters (not the time range, which the stream does not take).
function startLive() {
  stopLive();
  if (!$("ev-live").checked || state.events.page !== 0 || $("ev-until").value) return;
  const source = new EventSource("/v1/events/stream?" + eventFilters().toString());
  source.addEventListener("event", (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch (e) {
      return;
    }
    const ev = state.events;
    if (ev.byId.has(event.id)) return;
    ev.byId.set(event.id, event);
    const rows = $("events-rows");
    rows.prepend(eventRow(event));
    rows.firstChild.classList.add("fresh");
    while (rows.children.length > kPageSize + kMaxLiveRows) rows.lastChild.remove();
    $("events-empty").hidden = true;
    ev.live += 1;
    announce(ev.live + (ev.live === 1 ? " new event" : " new events") + " live.");
  });
  source.addEventListener("open", () => $("ev-live").setAttribute("data-connected", "true"));
  source.addEventListener("error", () => $("ev-live").removeAttribute("data-connected"));
  state.events.source = source;
}

function startEvents() {
  const ev = state.events;
  const reload = () => loadEvents().then(startLive).catch((e) => announce(e.message));
  $("event-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    ev.cursors = [""];
    ev.page = 0;
    reload();
  });
  $("ev-live").addEventListener("change", startLive);
  $("ev-next").addEventListener("click", () => {
    if (!ev.nextCursor) return;
    ev.page += 1;
    ev.cursors[ev.page] = ev.nextCursor;
    reload();
  });
  $("ev-first").addEventListener("click", () => {
    ev.page = 0;
    reload();
  });
}

// ---- Agents and the audit log: one page each, with First / Next page.

function pager(paging, prefix, load) {
  $(prefix + "-next").addEventListener("click", () => {
    if (!paging.nextCursor) return;
    paging.page += 1;
    paging.cursors[paging.page] = paging.nextCursor;
    load().catch((e) => announce(e.message));
  });
  $(prefix + "-first").addEventListener("click", () => {
    paging.page = 0;
    load().catch((e) => announce(e.message));
  });
}

function paged(paging, prefix, count, [one, many], nextCursor) {
  paging.nextCursor = nextCursor || null;
  $(prefix + "-next").disabled = !paging.nextCursor;
  $(prefix + "-first").disabled = paging.page === 0;
  $(prefix + "-empty").hidden = count !== 0;
  announce(`${count} ${count === 1 ? one : many} on page ${paging.page + 1}.`);
}

function bytes(n) {
  if (!Number.isFinite(n)) return "";
  const units = ["B", "KiB", "MiB", "GiB"];
  let at = 0;
  while (n >= 1024 && at < units.length - 1) {
    n /= 1024;
    at += 1;
  }
  return (at ? n.toFixed(1) : String(n)) + " " + units[at];
}

// What the agent's last heartbeat says: its files, how far shipping lags behind them (bytes
// written but not yet acknowledged by the server), and its spool.
function agentHealth(status) {
  const files = (status && Array.isArray(status.files)) ? status.files : [];
  let lag = 0;
  for (const file of files) lag += Math.max(0, (file.size || 0) - (file.committed_offset || 0));
  const spool = (status && status.spool) || {};
  return {
    state: (status && status.state) || "",
    files: files.map((f) => f.path).filter(Boolean),
    lag: status ? bytes(lag) : "",
    spool: status ? `${spool.batches || 0} batches, ${bytes(spool.bytes || 0)}` : "",
  };
}

async function loadAgents() {
  const paging = state.agents;
  const params = new URLSearchParams({ limit: String(kPageSize) });
  if (paging.cursors[paging.page]) params.set("cursor", paging.cursors[paging.page]);
  const doc = await api("GET", "/v1/agents?" + params.toString());
  const rows = $("agents-rows");
  rows.replaceChildren();
  for (const agent of doc.agents) {
    const health = agentHealth(agent.status);
    const files = el("td", health.files.length ? String(health.files.length) : "");
    if (health.files.length) files.title = health.files.join("\n");
    const host = el("td");
    host.append(el("strong", agent.hostname), el("br"), el("span", agent.agent_id, "mono"));
    const row = el("tr");
    row.dataset.agentId = agent.agent_id;
    row.append(host, el("td", agent.version),
               el("td", localTime(agent.last_heartbeat) || "never"), el("td", health.state),
               files, el("td", health.lag), el("td", health.spool), el("td", agent.records));
    rows.append(row);
  }
  paged(paging, "agents", doc.agents.length, ["agent", "agents"], doc.next_cursor);
}

// ---- Enrollment tokens (owners and admins: agents.enroll), under the agents.

async function loadTokens() {
  const doc = await api("GET", "/v1/enrollment-tokens?limit=50");
  const rows = $("token-rows");
  rows.replaceChildren();
  for (const token of doc.enrollment_tokens) {
    const row = el("tr");
    row.dataset.tokenId = token.id;
    const action = el("td");
    if (token.state === "unused" || token.state === "expired") {  // either can be revoked
      const revoke = el("button", "Revoke");
      revoke.type = "button";
      revoke.setAttribute("aria-label", "Revoke token " + token.prefix);
      revoke.addEventListener("click", () => revokeToken(token));
      action.append(revoke);
    }
    row.append(el("td", token.prefix + "…", "mono"), el("td", localTime(token.created_at)),
               el("td", localTime(token.expires_at)), el("td", token.state),
               el("td", token.used_by_agent || "", "mono"), action);
    rows.append(row);
  }
  if (!doc.enrollment_tokens.length) {
    const row = el("tr");
    const cell = el("td", "None.");
    cell.colSpan = 6;
    row.append(cell);
    rows.append(row);
  }
  return doc.enrollment_tokens.length;
}

async function createToken(event) {
  event.preventDefault();
  const button = $("token-create");
  button.disabled = true;
  try {
    const made = await api("POST", "/v1/enrollment-tokens", { ttl: $("token-ttl").value });
    $("token-command").value =
      `faultline-agent enroll --server ${location.origin} --token ${made.token}`;
    $("token-made").hidden = false;
    await loadTokens();
    announce("Enrollment token " + made.prefix + " made, valid until " +
             localTime(made.expires_at) + ".");
    $("token-made-title").focus();
  } catch (e) {
    announce("Could not make a token: " + e.message);
  } finally {
    button.disabled = false;
  }
}

async function revokeToken(token) {
  try {
    await api("DELETE", "/v1/enrollment-tokens/" + encodeURIComponent(token.id));
    $("token-made").hidden = true;  // the token shown may be this one
    $("token-command").value = "";
    await loadTokens();
    announce("Enrollment token " + token.prefix + " revoked.");
    $("tokens-title").focus();
  } catch (e) {
    announce("Could not revoke: " + e.message);
  }
}

async function copyCommand() {
  const command = $("token-command");
  command.select();
  try {
    await navigator.clipboard.writeText(command.value);
    announce("Command copied.");
  } catch (e) {
    announce("Select the command and copy it (Ctrl+C).");
  }
}

async function loadAudit() {
  const paging = state.audit;
  const params = new URLSearchParams({ limit: String(kPageSize) });
  for (const name of ["action", "actor", "outcome"]) {
    const value = $("audit-" + name).value.trim();
    if (value) params.set(name, value);
  }
  if (paging.cursors[paging.page]) params.set("cursor", paging.cursors[paging.page]);
  const doc = await api("GET", "/v1/audit?" + params.toString());
  const rows = $("audit-rows");
  rows.replaceChildren();
  for (const entry of doc.entries) {
    const detail = entry.detail && Object.keys(entry.detail).length ? JSON.stringify(entry.detail)
                                                                    : "";
    const row = el("tr");
    row.append(el("td", entry.seq), el("td", localTime(entry.at)), el("td", entry.actor, "mono"),
               el("td", entry.action), el("td", entry.target, "mono"), el("td", entry.outcome),
               el("td", detail, "mono wrap"));
    rows.append(row);
  }
  paged(paging, "audit", doc.entries.length, ["entry", "entries"], doc.next_cursor);
}

// ---- Noise rules and integrations: lists, and for those allowed, make and delete.

function counted(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

const kWeek = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

// "7200s" (as the API writes durations) -> "2h"; "5400s" -> "1h30m".
function duration(text) {
  const match = /^(\d+)s$/.exec(String(text));
  if (!match) return String(text);
  const seconds = Number(match[1]);
  const parts = [[Math.floor(seconds / 3600), "h"], [Math.floor(seconds % 3600 / 60), "m"],
                 [seconds % 60, "s"]].filter(([n]) => n > 0);
  return parts.map(([n, unit]) => n + unit).join("") || "0s";
}

function ruleWindow(rule) {
  if (rule.error) return "unusable: " + rule.error;
  if (rule.recurrence) {
    const r = rule.recurrence;
    const days = r.days && r.days.length
      ? [...r.days].sort((a, b) => kWeek.indexOf(a) - kWeek.indexOf(b)).join(", ") : "every day";
    return `weekly ${days} ${r.start} for ${duration(r.duration)} (${r.time_zone})`;
  }
  if (rule.starts_at || rule.ends_at) {
    return localTime(rule.starts_at) + " – " + (rule.ends_at ? localTime(rule.ends_at) : "");
  }
  return "always";
}

const kNoiseManagers = ["owner", "admin", "responder"];  // noise.manage

// A button in a table row that runs `action` (a DELETE), then reloads the view.
function rowButton(label, name, action) {
  const cell = el("td");
  const button = el("button", label);
  button.type = "button";
  button.setAttribute("aria-label", label + " " + name);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await action();
    } catch (e) {
      announce("Could not " + label.toLowerCase() + ": " + e.message);
      button.disabled = false;
    }
  });
  cell.append(button);
  return cell;
}

function ruleRows(rules, tbody, path) {
  tbody.replaceChildren();
  const manage = kNoiseManagers.includes(state.me.role);
  for (const rule of rules) {
    const matchers = (rule.matchers || []).map((m) => `${m.name} ${m.op} "${m.value}"`);
    const active = rule.active_now
      ? "yes" + (rule.active_until ? ", until " + localTime(rule.active_until) : "")
      : "no" + (rule.next_start ? ", next " + localTime(rule.next_start) : "");
    const row = el("tr");
    row.append(el("td", rule.name), el("td", matchers.join(", "), "mono wrap"), el("td", active),
               el("td", ruleWindow(rule)), el("td", rule.created_by, "mono"));
    row.append(manage ? rowButton("Delete", rule.name, async () => {
      await api("DELETE", path + "/" + encodeURIComponent(rule.id));
      await loadNoise();
      announce("Deleted " + rule.name + ".");
      focusHeading("noise-title");
    }) : el("td"));
    tbody.append(row);
  }
  if (!rules.length) {
    const row = el("tr");
    const cell = el("td", "None.");
    cell.colSpan = 6;
    row.append(cell);
    tbody.append(row);
  }
}

async function loadNoise() {
  const [suppression, maintenance] = await Promise.all([
    api("GET", "/v1/suppression-rules?limit=100"),
    api("GET", "/v1/maintenance-windows?limit=100"),
  ]);
  $("rule-form").hidden = !kNoiseManagers.includes(state.me.role);
  ruleRows(suppression.suppression_rules, $("suppression-rows"), "/v1/suppression-rules");
  ruleRows(maintenance.maintenance_windows, $("maintenance-rows"), "/v1/maintenance-windows");
  announce(counted(suppression.suppression_rules.length, "suppression rule") + ", " +
           counted(maintenance.maintenance_windows.length, "maintenance window") + ".");
}

// The form makes a suppression rule (always, or a silence between From and Until) or a one-off
// maintenance window (From and Until required). Times are the browser's local time.
// A maintenance window may instead repeat weekly ("Repeats weekly": days, start time, duration
// and time zone, as the API's "recurrence"); From and Until then only bound it.
function ruleKindChanged() {
  const maintenance = $("rule-kind").value === "maintenance";
  const weekly = maintenance && $("rule-weekly").checked;
  $("rule-create").textContent = maintenance ? "Add maintenance window" : "Add suppression rule";
  $("rule-weekly-box").hidden = !maintenance;
  $("rule-weekly-fields").hidden = !weekly;
  const optional = !maintenance || weekly;
  $("rule-starts").labels[0].textContent = optional
    ? "From (optional" + (weekly ? ")" : " for a rule)") : "From";
  $("rule-ends").labels[0].textContent = optional
    ? "Until (optional" + (weekly ? ")" : " for a rule)") : "Until";
  if (weekly && !$("rule-zone").value) {
    $("rule-zone").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  }
}

function weeklyRecurrence() {
  const days = [...document.querySelectorAll("#rule-weekly-fields input[name=day]:checked")]
    .map((box) => box.value);
  const recurrence = { time_zone: $("rule-zone").value.trim(), start: $("rule-at").value,
                       duration: $("rule-duration").value.trim() };
  if (days.length) recurrence.days = days;
  return recurrence;
}

async function createRule(event) {
  event.preventDefault();
  const maintenance = $("rule-kind").value === "maintenance";
  const noun = maintenance ? "Maintenance window" : "Suppression rule";
  const name = $("rule-name").value.trim();
  const matcher = { name: $("rule-label").value.trim(), op: $("rule-op").value,
                    value: $("rule-value").value };
  if (!name || !matcher.name) {
    $("rule-error").textContent = "Name the rule and the label it matches.";
    return;
  }
  const body = { name, matchers: [matcher] };
  const starts = $("rule-starts").value;
  const ends = $("rule-ends").value;
  const weekly = maintenance && $("rule-weekly").checked;
  if (maintenance && !weekly && (!starts || !ends)) {
    $("rule-error").textContent = "A maintenance window needs its start and its end " +
      "(or Repeats weekly).";
    return;
  }
  if (weekly) body.recurrence = weeklyRecurrence();  // the API judges the zone and duration
  if (starts) body.starts_at = new Date(starts).toISOString();
  if (ends) body.ends_at = new Date(ends).toISOString();
  $("rule-error").textContent = "";
  try {
    await api("POST", maintenance ? "/v1/maintenance-windows" : "/v1/suppression-rules", body);
    for (const id of ["rule-name", "rule-label", "rule-value", "rule-starts", "rule-ends"]) {
      $(id).value = "";
    }
    for (const box of document.querySelectorAll("#rule-weekly-fields input[name=day]")) {
      box.checked = false;
    }
    await loadNoise();
    announce(noun + " " + name + " added.");
  } catch (e) {
    $("rule-error").textContent = "Could not add the " + noun.toLowerCase() + ": " + e.message;
  }
}

// A generic integration carries a field mapping: the JSON pointers typed in (empty ones left
// out) and the comma-separated status values. The server validates it and names what is wrong.
function integrationKindChanged() {
  $("mapping-fields").hidden = $("integration-kind").value !== "generic";
  $("integration-error").textContent = "";
}

function fieldMapping() {
  const mapping = {};
  for (const input of $("mapping-fields").querySelectorAll("input[data-key]")) {
    const pointer = input.value.trim();
    if (pointer) mapping[input.dataset.key] = pointer;
  }
  for (const input of $("mapping-fields").querySelectorAll("input[data-list]")) {
    const values = input.value.split(",").map((v) => v.trim()).filter((v) => v);
    if (values.length) mapping[input.dataset.list] = values;
  }
  return mapping;
}

async function createIntegration(event) {
  event.preventDefault();
  const body = { kind: $("integration-kind").value };
  const name = $("integration-name").value.trim();
  if (name) body.name = name;
  if (body.kind === "generic") body.mapping = fieldMapping();
  $("integration-error").textContent = "";
  try {
    const made = await api("POST", "/v1/integrations", body);
    $("integration-url").value = location.origin + made.hook_path;
    $("integration-made").hidden = false;
    $("integration-name").value = "";
    for (const input of $("mapping-fields").querySelectorAll("input")) input.value = "";
    await loadIntegrations();
    announce("Integration " + made.name + " created.");
    $("integration-made-title").focus();
  } catch (e) {
    $("integration-error").textContent = "Could not create the integration: " + e.message;
  }
}

async function loadIntegrations() {
  const doc = await api("GET", "/v1/integrations");
  const rows = $("integrations-rows");
  rows.replaceChildren();
  for (const integration of doc.integrations) {
    const limit = integration.rate_limit || {};
    const row = el("tr");
    const kind = el("td", integration.kind);
    if (integration.mapping) {  // a generic integration: its field mapping, folded
      const details = el("details");
      details.append(el("summary", "Field mapping"),
                     el("pre", JSON.stringify(integration.mapping, null, 2), "raw"));
      kind.append(details);
    }
    row.append(el("td", integration.name), kind, el("td", integration.id, "mono"),
               el("td", `${limit.rps ?? "?"}/s, burst ${limit.burst ?? "?"}`),
               el("td", localTime(new Date(integration.created_at_ns / 1e6).toISOString())),
               el("td", integration.revoked ? "revoked" : "active"));
    row.append(integration.revoked ? el("td") : rowButton("Revoke", integration.name, async () => {
      await api("DELETE", "/v1/integrations/" + encodeURIComponent(integration.id));
      $("integration-made").hidden = true;
      $("integration-url").value = "";
      await loadIntegrations();
      announce("Integration " + integration.name + " revoked.");
      focusHeading("integrations-title");
    }));
    rows.append(row);
  }
  announce(counted(doc.integrations.length, "integration") + ".");
}

async function start() {
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);
  $("tenant-select").addEventListener("change", onSwitchTenant);
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
  $("close-incident").addEventListener("click", () => transition("close"));
  $("assign-form").addEventListener("submit", (event) => {
    event.preventDefault();
    assign($("assign-to").value.trim());
  });
  $("assign-me").addEventListener("click", () => assign(state.me.email || state.me.actor));
  $("comment-form").addEventListener("submit", onComment);
  $("postmortem-form").addEventListener("submit", onPostmortem);
  startEvents();
  pager(state.agents, "agents", loadAgents);
  pager(state.audit, "audit", loadAudit);
  $("token-form").addEventListener("submit", createToken);
  $("rule-form").addEventListener("submit", createRule);
  $("rule-kind").addEventListener("change", ruleKindChanged);
  $("rule-weekly").addEventListener("change", ruleKindChanged);
  $("integration-form").addEventListener("submit", createIntegration);
  $("integration-kind").addEventListener("change", integrationKindChanged);
  $("graph-version-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = Number($("graph-version").value);
    const { incidentId, latest, recorded } = state.graph || {};
    // The plain address when the choice is what it shows by default.
    const implicit = incidentId ? (recorded || latest) : latest;
    location.hash = graphHash(incidentId, chosen === implicit ? 0 : chosen);
  });
  $("token-copy").addEventListener("click", copyCommand);
  $("audit-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.audit.cursors = [""];
    state.audit.page = 0;
    loadAudit().catch((e) => announce(e.message));
  });
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
