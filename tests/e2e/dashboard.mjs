// Drives the dashboard in Debian's chromium (headless) through playwright-core, the way a
// responder would: keyboard and labels, not CSS selectors. Run by test_dashboard.py, which
// starts the aggregator and passes everything in the environment. Exits non-zero on any failure.
import { chromium } from "playwright-core";
import path from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const url = env("DASHBOARD_URL");
const shots = env("DASHBOARD_SCREENSHOTS");
const title = env("DASHBOARD_INCIDENT_TITLE");
const services = env("DASHBOARD_SERVICES").split(",");     // the incident's, sorted
const chainServices = env("DASHBOARD_CHAIN").split(",");  // the chain's, in order
const email = env("DASHBOARD_EMAIL");
const kStepTimeoutMs = 15000;

function check(condition, what) {
  if (!condition) throw new Error("check failed: " + what);
}

// In the page: every visible element holding text, with its contrast ratio against the first
// opaque background behind it (WCAG 2 relative luminance). Disabled controls are exempt.
function lowContrastTexts(minimum) {
  const rgb = (text) => (text.match(/[\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const channel = (v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const background = (node) => {
    for (let at = node; at; at = at.parentElement) {
      const color = rgb(getComputedStyle(at).backgroundColor);
      if (color.length === 3 || (color.length === 4 && color[3] === 1)) return color.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const node of document.body.querySelectorAll("*")) {
    const own = [...node.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim());
    if (!own || !node.checkVisibility() || node.closest(":disabled")) continue;
    const fg = luminance(rgb(getComputedStyle(node).color));
    const bg = luminance(background(node));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < minimum) low.push(`${node.tagName} "${node.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  return low;
}

const browser = await chromium.launch({
  executablePath: process.env.FAULTLINE_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // No sandbox: CI runs as root, where chromium's sandbox refuses to start.
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
let failed = false;
const page = await browser.newPage({ viewport: { width: 1366, height: 800 } });
page.setDefaultTimeout(kStepTimeoutMs);
const problems = [];
// Failed loads are judged by their response below; any other console error (a CSP violation,
// a script error) fails the test.
page.on("console", (msg) => {
  if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource")) {
    problems.push(msg.text());
  }
});
// Expected refusals: the wrong password, a login naming no tenant for a user in several, and
// the icon the page does not have.
page.on("response", (response) => {
  const where = new URL(response.url()).pathname;
  const expected = ((response.status() === 401 || response.status() === 400) &&
                    where === "/v1/auth/login") ||
                   (response.status() === 404 && where === "/favicon.ico") ||
                   // the unknown time zone and the generic mapping without a title, refused
                   (response.status() === 400 && response.request().method() === "POST" &&
                    (where === "/v1/maintenance-windows" || where === "/v1/integrations")) ||
                   (response.status() === 404 &&
                    where === "/v1/events/" + env("DASHBOARD_OTHER_EVENT_ID"));
  if (response.status() >= 400 && !expected) {
    problems.push(`${response.status()} from ${response.request().method()} ${where}`);
  }
});
page.on("pageerror", (error) => problems.push("page error: " + error.message));
const shot = async (name) => {
  await page.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });
  console.log("screenshot " + name);
};

try {
  const response = await page.goto(url);
  check(response.status() === 200, "GET / answers 200");
  const headers = response.headers();
  check(headers["content-type"].startsWith("text/html"), "the page is text/html");
  check((headers["content-security-policy"] || "").includes("script-src 'self'"), "a strict CSP");

  // Sign in with the labelled fields, submitting with the keyboard.
  await page.getByLabel("E-mail").fill(env("DASHBOARD_EMAIL"));
  await page.getByLabel("Password").fill("wrong password, surely");
  await page.getByLabel("Password").press("Enter");
  await page.getByRole("alert").filter({ hasText: "Wrong e-mail or password" }).waitFor();
  await page.getByLabel("Password").fill(env("DASHBOARD_PASSWORD"));
  await shot("01-login");
  await page.getByRole("button", { name: "Sign in" }).click();

  // The list: the tenant is shown, our incident is there, the other tenant's is not.
  await page.getByRole("heading", { name: "Incidents" }).waitFor();
  const tenant = await page.locator("#who-tenant").textContent();
  check(tenant === env("DASHBOARD_TENANT"), `tenant shown (${tenant})`);
  const link = page.getByRole("link", { name: title });
  await link.waitFor();
  const rowText = await page.getByRole("row").filter({ hasText: title }).textContent();
  check(rowText.includes("triggered") && rowText.includes("critical"), `state and severity (${rowText})`);
  check(!(await page.content()).includes(env("DASHBOARD_HIDDEN_TEXT")), "no other tenant's data");
  await shot("02-incidents");
  const lowOnList = await page.evaluate(lowContrastTexts, 4.5);
  check(lowOnList.length === 0, "list contrast of at least 4.5:1: " + lowOnList.join("; "));

  // Pagination: 25 a page, the rest on the next; back to the first.
  const rows = page.locator("#incident-rows tr");
  check((await rows.count()) === 25, `25 rows on page 1 (${await rows.count()})`);
  check(await page.getByRole("button", { name: "First page" }).isDisabled(), "on page 1");
  await page.getByRole("button", { name: "Next page" }).click();
  await page.getByRole("status").filter({ hasText: "on page 2." }).waitFor();
  const rest = Number(env("DASHBOARD_SECOND_PAGE_ROWS"));
  check((await rows.count()) === rest, `${rest} rows on page 2 (${await rows.count()})`);
  check(await page.getByRole("button", { name: "Next page" }).isDisabled(), "page 2 is the last");
  check((await page.getByRole("link", { name: title }).count()) === 0, "not on page 2");
  await shot("02b-incidents-page-2");
  await page.getByRole("button", { name: "First page" }).click();
  await page.getByRole("status").filter({ hasText: "on page 1." }).waitFor();

  // The detail, opened from the keyboard.
  await link.focus();
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { level: 1, name: title }).waitFor();
  await page.getByRole("heading", { name: "Root-cause candidates" }).waitFor();
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  check(focused === "detail-title", `focus moves to the incident's heading (${focused})`);
  const rca = await page.locator("#rca-rows").textContent();
  check(/\d+%/.test(rca), `RCA candidates with a confidence (${rca})`);
  check((await page.locator("#chain li").count()) >= 1, "the event chain is listed");
  check((await page.locator("#event-rows tr").count()) >= 1, "the events are listed");
  await shot("03-incident");
  const low = await page.evaluate(lowContrastTexts, 4.5);
  check(low.length === 0, "text contrast of at least 4.5:1: " + low.join("; "));

  await page.getByRole("button", { name: "Acknowledge" }).click();
  await page.getByRole("status").filter({ hasText: "Incident acknowledged." }).waitFor();
  check((await page.locator("#detail-state").textContent()) === "acknowledged", "acknowledged");
  check(await page.getByRole("button", { name: "Acknowledge" }).isDisabled(), "ack disabled");
  await shot("04-acknowledged");

  // RCA evidence: a candidate's evidence link moves focus to that event's row.
  const evidence = page.locator("#rca-rows a").first();
  const evidenceId = await evidence.textContent();
  await evidence.focus();
  await page.keyboard.press("Enter");
  const onRow = await page.evaluate(() => document.activeElement && document.activeElement.id);
  check(onRow === "ev-" + evidenceId, `evidence link focuses its event row (${onRow})`);

  // Assign through the labelled field, then to me; both show in the timeline.
  await page.getByLabel("Assign to").fill("alice@example.com");
  await page.getByRole("button", { name: "Assign", exact: true }).click();
  await page.getByRole("status").filter({ hasText: "Assigned to alice@example.com." }).waitFor();
  check((await page.locator("#detail-assignee").textContent()) === "alice@example.com", "assignee");
  await page.getByRole("button", { name: "Assign to me" }).click();
  await page.getByRole("status").filter({ hasText: `Assigned to ${email}.` }).waitFor();
  check((await page.locator("#detail-assignee").textContent()) === email, "assigned to me");
  const assignments = await page.locator("#timeline li.kind-assignee").allTextContents();
  check(assignments.length === 2 && assignments[0].includes("assigned to alice@example.com") &&
        assignments[1].includes(`assigned to ${email} (was alice@example.com)`),
        `assignments in the timeline (${assignments.join(" | ")})`);

  // A comment, typed and sent from the keyboard; markup in it stays text.
  const note = "Pool exhausted on db-1 <b id=\"injected\">not markup</b>";
  await page.getByLabel("Comment").fill(note);
  await page.getByRole("button", { name: "Add comment" }).focus();
  await page.keyboard.press("Enter");
  await page.getByRole("status").filter({ hasText: "Comment added." }).waitFor();
  const comments = await page.locator("#timeline li.kind-comment").allTextContents();
  check(comments.length === 1 && comments[0].includes(note) && comments[0].includes("user:"),
        `the comment in the timeline (${comments.join(" | ")})`);
  check((await page.locator("#injected").count()) === 0, "a comment is text, never markup");
  check((await page.getByLabel("Comment").inputValue()) === "", "the comment box is emptied");
  await shot("04b-assigned-commented");

  // Open the graph: the incident's services highlighted, the chain drawn through them in order.
  await page.getByRole("link", { name: "Open graph" }).click();
  await page.getByRole("heading", { level: 1, name: "Service graph: " + title }).waitFor();
  await page.locator("#graph-svg g.node").first().waitFor();
  const lit = await page.locator("#graph-svg g.node.highlighted")
    .evaluateAll((nodes) => nodes.map((n) => n.getAttribute("data-service")).sort());
  check(JSON.stringify(lit) === JSON.stringify(services),
        `highlighted nodes are the incident's services (${lit} vs ${services})`);
  const drawn = await page.locator("#graph-svg g.node").count();
  check(drawn > lit.length, `the rest of the graph is drawn too (${drawn} nodes)`);
  const hops = await page.locator("#graph-chain-path path")
    .evaluateAll((paths) => paths.map((p) => p.dataset.from + ">" + p.dataset.to));
  const wantHops = chainServices.slice(1).map((to, i) => chainServices[i] + ">" + to);
  check(JSON.stringify(hops) === JSON.stringify(wantHops),
        `the chain is a path over the graph (${hops} vs ${wantHops})`);
  // Every node is inside the drawing and no two overlap.
  const boxes = await page.locator("#graph-svg g.node rect").evaluateAll((rects) =>
    rects.map((r) => [+r.getAttribute("x"), +r.getAttribute("y"), +r.getAttribute("width"),
                      +r.getAttribute("height")]));
  for (let i = 0; i < boxes.length; ++i) {
    for (let j = i + 1; j < boxes.length; ++j) {
      const [a, b] = [boxes[i], boxes[j]];
      const apart = a[0] + a[2] <= b[0] || b[0] + b[2] <= a[0] ||
                    a[1] + a[3] <= b[1] || b[1] + b[3] <= a[1];
      check(apart, `graph nodes ${i} and ${j} overlap`);
    }
  }
  const graphWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  check(graphWidth <= 1366, `the graph view fits a laptop screen's width (${graphWidth}px)`);
  await shot("07-graph-incident");
  const lowOnGraph = await page.evaluate(lowContrastTexts, 4.5);
  check(lowOnGraph.length === 0, "graph contrast of at least 4.5:1: " + lowOnGraph.join("; "));
  // The graph as the incident knew it: its recorded version, without the service declared
  // since; the picker shows the current version (with it) and goes back, from the keyboard.
  const recorded = env("DASHBOARD_GRAPH_VERSION");
  const newService = env("DASHBOARD_NEW_SERVICE");
  const nodeNames = () => page.locator("#graph-svg g.node")
    .evaluateAll((nodes) => nodes.map((n) => n.getAttribute("data-service")));
  check(page.url().endsWith("/version/" + recorded), `the incident's graph link (${page.url()})`);
  const summaryThen = await page.locator("#graph-summary").textContent();
  check(summaryThen.startsWith(`Version ${recorded} (current: `) &&
        summaryThen.includes("the one the incident was opened under"),
        `the incident's graph version (${summaryThen})`);
  check(!(await nodeNames()).includes(newService), `no ${newService} in the incident's version`);
  check((await page.getByLabel("Graph version").inputValue()) === recorded,
        "the picker shows the incident's version");
  const current = await page.locator("#graph-version option").first().getAttribute("value");
  check(Number(current) > Number(recorded), `a newer version is offered (${current})`);
  await page.getByLabel("Graph version").selectOption(current);
  await page.getByRole("button", { name: "Show version" }).click();
  await page.locator("#graph-summary").filter({ hasText: `Version ${current} (current)` })
    .waitFor();
  check((await nodeNames()).includes(newService), `${newService} in the current version`);
  const litNow = await page.locator("#graph-svg g.node.highlighted")
    .evaluateAll((nodes) => nodes.map((n) => n.getAttribute("data-service")).sort());
  check(JSON.stringify(litNow) === JSON.stringify(services), `still highlighted (${litNow})`);
  await page.getByRole("heading", { level: 1, name: "Service graph: " + title }).waitFor();
  await shot("07c-graph-version-current");
  await page.getByLabel("Graph version").focus();
  await page.getByLabel("Graph version").selectOption(recorded);
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await page.locator("#graph-summary").filter({ hasText: `Version ${recorded} (current: ` })
    .waitFor();
  check(!(await nodeNames()).includes(newService), `${newService} gone again`);
  // A node is a link to its service's events, reached and opened from the keyboard.
  await page.getByRole("link", { name: "payments, in this incident: its events" }).focus();
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { level: 1, name: "Events" }).waitFor();
  check((await page.getByLabel("Service", { exact: true }).inputValue()) === "payments",
        "the events view filtered by the node's service");
  await page.getByRole("status").filter({ hasText: "1 event on page 1." }).waitFor();
  check((await page.locator("#events-rows tr").first().textContent()).includes("PaymentsLatency"),
        "the payments event");
  await page.getByLabel("Service", { exact: true }).fill("");  // the later steps start unfiltered
  await page.goBack();
  await page.getByRole("heading", { level: 1, name: "Service graph: " + title }).waitFor();
  await page.getByRole("link", { name: "Back to the incident" }).click();
  await page.getByRole("heading", { level: 1, name: title }).waitFor();

  // A postmortem typed before resolving survives the resolve's reload, then is saved.
  const postmortem = "# Timeline\nThe koala migration held row locks on db-1.\n";
  check((await page.locator("#postmortem-meta").textContent()).includes("Not written yet"),
        "no postmortem yet");
  await page.getByLabel("Postmortem", { exact: false }).fill(postmortem);
  await page.getByRole("button", { name: "Resolve" }).click();
  await page.getByRole("status").filter({ hasText: "Incident resolved." }).waitFor();
  check((await page.locator("#detail-state").textContent()) === "resolved", "resolved");
  const timeline = await page.locator("#timeline").textContent();
  check(timeline.includes("user:"), `the timeline names the user (${timeline})`);
  check((await page.locator("#postmortem-text").inputValue()) === postmortem,
        "the postmortem being typed is kept when the incident reloads");
  await page.getByRole("button", { name: "Save postmortem" }).click();
  await page.getByRole("status").filter({ hasText: "Postmortem saved." }).waitFor();
  check((await page.locator("#postmortem-meta").textContent()).includes("Saved by user:"),
        "the postmortem says who saved it");
  await shot("05-resolved");
  await page.reload();
  await page.getByRole("heading", { level: 1, name: title }).waitFor();
  await page.locator("#postmortem-meta").filter({ hasText: "Saved by" }).waitFor();
  check((await page.locator("#postmortem-text").inputValue()) === postmortem,
        "the saved postmortem is there after a reload");

  await page.getByRole("button", { name: "Close" }).click();
  await page.getByRole("status").filter({ hasText: "Incident closed." }).waitFor();
  check((await page.locator("#detail-state").textContent()) === "closed", "closed");
  for (const name of ["Acknowledge", "Resolve", "Close"]) {
    check(await page.getByRole("button", { name, exact: true }).isDisabled(), name + " disabled");
  }
  await shot("05b-closed");

  // Back to the list: the state there follows.
  await page.getByRole("link", { name: "All incidents" }).click();
  await page.getByRole("heading", { name: "Incidents" }).waitFor();
  await page.getByRole("row").filter({ hasText: "closed" }).waitFor();
  await shot("06-list-after");

  // The whole graph from the menu: nothing highlighted.
  await page.getByRole("link", { name: "Service graph", exact: true }).click();
  await page.getByRole("heading", { level: 1, name: "Service graph", exact: true }).waitFor();
  await page.locator("#graph-svg g.node").first().waitFor();
  check((await page.locator("#graph-svg g.node.highlighted").count()) === 0, "no highlight");
  check((await nodeNames()).includes(newService), `the whole graph is the current version`);
  check((await page.locator("#graph-summary").textContent()).includes("(current)"),
        "the summary says the version is current");
  await shot("07b-graph");

  // Events: one page of the tenant's own, paged, filtered, a detail with the raw payload.
  await page.getByRole("link", { name: "Events", exact: true }).click();
  await page.getByRole("heading", { level: 1, name: "Events" }).waitFor();
  await page.getByRole("status").filter({ hasText: "events on page 1." }).waitFor();
  const eventRows = page.locator("#events-rows tr");
  check((await eventRows.count()) === 25, `25 events on page 1 (${await eventRows.count()})`);
  check(!(await page.content()).includes(env("DASHBOARD_HIDDEN_TEXT")), "no other tenant's events");
  const eventTotal = Number(env("DASHBOARD_EVENT_TOTAL"));
  await page.getByRole("button", { name: "Next page" }).click();
  await page.getByRole("status").filter({ hasText: "on page 2." }).waitFor();
  const onPage2 = await eventRows.count();
  check(onPage2 === eventTotal - 25, `${eventTotal - 25} events on page 2 (${onPage2})`);
  await page.getByRole("button", { name: "First page" }).click();
  await page.getByRole("status").filter({ hasText: "on page 1." }).waitFor();
  await shot("08-events");
  const lowOnEvents = await page.evaluate(lowContrastTexts, 4.5);
  check(lowOnEvents.length === 0, "events contrast of at least 4.5:1: " + lowOnEvents.join("; "));

  await page.getByLabel("Service", { exact: true }).fill("checkout");
  await page.getByLabel("Severity", { exact: true }).selectOption("critical");
  await page.getByLabel("Source").selectOption("alertmanager");
  await page.getByRole("button", { name: "Apply filters" }).click();
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll("#events-rows tr")];
    return rows.length > 0 && rows.every((r) => r.cells[1].textContent === "checkout");
  });
  const filtered = await eventRows.count();
  check(filtered === 1, `one checkout event (${filtered})`);
  await page.getByRole("link", { name: "CheckoutErrors on checkout" }).focus();
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { level: 2, name: "Event: CheckoutErrors on checkout" })
    .waitFor();
  const facts = await page.locator("#event-facts").textContent();
  check(facts.includes("Noise decision") && facts.includes("new"), `the decision (${facts})`);
  const raw = await page.locator("#event-raw").textContent();
  check(raw.includes('"alertname": "CheckoutErrors"'), `the raw payload (${raw.slice(0, 200)})`);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 1366, `the event detail fits a laptop screen's width (${wide}px)`);
  await shot("09-event-detail");

  // The detail has an address: reloaded, the page opens the same event (GET /v1/events/{id}).
  const eventUrl = page.url();
  check(/#\/events\/evt_[0-9a-f]+$/.test(eventUrl), `the event's address (${eventUrl})`);
  await page.reload();
  await page.getByRole("heading", { level: 2, name: "Event: CheckoutErrors on checkout" })
    .waitFor();
  const reloadedRaw = await page.locator("#event-raw").textContent();
  check(reloadedRaw.includes('"alertname": "CheckoutErrors"'), "the raw payload after a reload");
  const onDetail = await page.evaluate(() => document.activeElement && document.activeElement.id);
  check(onDetail === "event-detail-title", `focus on the event's heading (${onDetail})`);
  // Another tenant's event id, typed into the address bar: not found, nothing shown.
  await page.goto(url + "#/events/" + env("DASHBOARD_OTHER_EVENT_ID"));
  await page.getByRole("status").filter({ hasText: "No event " }).waitFor();
  check(await page.locator("#event-detail").isHidden(), "no detail for another tenant's event");
  check(!(await page.content()).includes(env("DASHBOARD_HIDDEN_TEXT")), "no other tenant's event");
  await page.goto(url + "#/events");
  await page.getByRole("status").filter({ hasText: "events on page 1." }).waitFor();

  // The noise decision and text filters reach the API too.
  await page.getByLabel("Decision").selectOption("suppressed");
  await page.getByRole("button", { name: "Apply filters" }).click();
  await page.getByRole("status").filter({ hasText: "0 events on page 1." }).waitFor();
  check(await page.getByText("No events.").isVisible(), "no suppressed events");
  await page.getByLabel("Decision").selectOption("new");
  await page.getByLabel("Service", { exact: true }).fill("");
  await page.getByLabel("Text").fill("PaymentsLatency");
  await page.getByRole("button", { name: "Apply filters" }).click();
  await page.getByRole("status").filter({ hasText: "1 event on page 1." }).waitFor();
  check((await eventRows.first().textContent()).includes("PaymentsLatency on payments"),
        "the text filter finds the payments event");
  await page.getByLabel("Decision").selectOption("");
  await page.getByLabel("Text").fill("");

  // Live: a webhook posted now shows up on top without a reload.
  await page.getByLabel("Service", { exact: true }).fill("");
  await page.getByLabel("Severity", { exact: true }).selectOption("");
  await page.getByLabel("Source").selectOption("");
  await page.getByRole("button", { name: "Apply filters" }).click();
  await page.getByRole("status").filter({ hasText: "25 events on page 1." }).waitFor();
  await page.locator("#ev-live[data-connected]").waitFor({ state: "attached" });
  const hook = await fetch(new URL(env("DASHBOARD_HOOK_PATH"), url), {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: env("DASHBOARD_LIVE_BODY"),
  });
  check(hook.status === 202, `live webhook accepted (${hook.status})`);
  await page.locator("#events-rows tr").first().filter({ hasText: "LiveProbe" }).waitFor();
  await page.getByRole("status").filter({ hasText: "1 new event live." }).waitFor();
  await shot("10-events-live");

  // Agents: the tenant's own, with what the last heartbeat said.
  check((await page.getByRole("link", { name: "Audit log" }).count()) === 0,
        "a responder has no audit log link");
  await page.getByRole("link", { name: "Agents", exact: true }).click();
  await page.getByRole("heading", { level: 1, name: "Agents" }).waitFor();
  await page.getByRole("status").filter({ hasText: "1 agent on page 1." }).waitFor();
  const agent = await page.locator("#agents-rows tr").first().locator("td").allTextContents();
  check(agent[0].startsWith("web-01") && agent[1] === "1.4.2" && agent[3] === "running" &&
        agent[4] === "2" && agent[5] === "3.9 KiB" && agent[6] === "3 batches, 2.0 KiB",
        `the agent's version, files, lag and spool (${agent.join(" | ")})`);
  check(!(await page.content()).includes("other-tenant-host"), "no other tenant's agents");
  check(await page.locator("#tokens").isHidden(), "a responder has no enrollment tokens");
  await shot("11-agents");

  // Noise rules: the suppression rule and the weekly maintenance window.
  await page.getByRole("link", { name: "Noise rules" }).click();
  await page.getByRole("heading", { level: 1, name: "Noise rules" }).waitFor();
  await page.getByRole("status").filter({ hasText: "1 suppression rule, 1 maintenance window." })
    .waitFor();
  const suppression = await page.locator("#suppression-rows td").allTextContents();
  check(suppression[0] === "mute legacy batch" && suppression[1] === 'service = "legacy-batch"' &&
        suppression[2] === "yes" && suppression[3] === "always",
        `the suppression rule (${suppression.join(" | ")})`);
  const maintenance = await page.locator("#maintenance-rows td").allTextContents();
  check(maintenance[0] === "weekend db upgrades" &&
        maintenance[3] === "weekly sat, sun 02:00 for 2h (Europe/Berlin)",
        `the maintenance window (${maintenance.join(" | ")})`);
  check((await page.getByRole("link", { name: "Integrations" }).count()) === 0,
        "a responder has no integrations link");
  await shot("11b-noise-rules");
  // A responder adds a suppression rule from the form and deletes the one made over the API.
  await page.getByLabel("Rule name").fill("mute canary");
  await page.getByLabel("Label", { exact: true }).fill("service");
  await page.getByLabel("Match").selectOption("=~");
  await page.getByLabel("Value", { exact: true }).fill("canary-.*");
  await page.getByRole("button", { name: "Add suppression rule" }).click();
  await page.getByRole("status").filter({ hasText: "Suppression rule mute canary added." })
    .waitFor();
  const added = await page.locator("#suppression-rows tr").filter({ hasText: "mute canary" })
    .locator("td").allTextContents();
  check(added[1] === 'service =~ "canary-.*"' && added[4].startsWith("user:"),
        `the new rule (${added.join(" | ")})`);
  await page.getByRole("button", { name: "Delete mute legacy batch" }).focus();
  await page.keyboard.press("Enter");
  await page.getByRole("status").filter({ hasText: "Deleted mute legacy batch." }).waitFor();
  const left = await page.locator("#suppression-rows tr td:first-child").allTextContents();
  check(JSON.stringify(left) === JSON.stringify(["mute canary"]), `rules left (${left})`);
  await shot("11e-noise-rule-added");
  // And a one-off maintenance window: it needs its start and end (browser local time).
  await page.getByLabel("Rule kind").selectOption("maintenance");
  await page.getByLabel("Rule name").fill("db failover drill");
  await page.getByLabel("Label", { exact: true }).fill("service");
  await page.getByLabel("Match").selectOption("=");
  await page.getByLabel("Value", { exact: true }).fill("db");
  await page.getByRole("button", { name: "Add maintenance window" }).click();
  await page.getByRole("alert").filter({ hasText: "needs its start and its end" }).waitFor();
  const localInput = (date) => new Date(date.getTime() - date.getTimezoneOffset() * 60000)
    .toISOString().slice(0, 16);
  const drillStart = new Date(Date.now() + 3600 * 1000);
  await page.getByLabel("From").fill(localInput(drillStart));
  await page.getByLabel("Until").fill(localInput(new Date(drillStart.getTime() + 7200 * 1000)));
  await page.getByRole("button", { name: "Add maintenance window" }).click();
  await page.getByRole("status")
    .filter({ hasText: "Maintenance window db failover drill added." }).waitFor();
  const drill = await page.locator("#maintenance-rows tr").filter({ hasText: "db failover drill" })
    .locator("td").allTextContents();
  check(drill[1] === 'service = "db"' && drill[2].startsWith("no, next ") &&
        drill[3].includes(" – ") && drill[4].startsWith("user:"),
        `the new maintenance window (${drill.join(" | ")})`);
  await shot("11f-maintenance-window-added");
  // A weekly maintenance window: the time zone defaults to the browser's; an unknown one is
  // refused with the API's reason, shown as an alert; then the row describes the window.
  await page.getByLabel("Rule name").fill("nightly backups");
  await page.getByLabel("Label", { exact: true }).fill("service");
  await page.getByLabel("Match").selectOption("=~");
  await page.getByLabel("Value", { exact: true }).fill("backup-.*");
  await page.getByLabel("Repeats weekly").focus();
  await page.keyboard.press("Space");
  await page.getByRole("group", { name: /^Weekly window/ }).waitFor();
  const browserZone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
  const defaultZone = await page.getByLabel("Time zone").inputValue();
  check(defaultZone === browserZone, `the zone defaults to the browser's (${defaultZone})`);
  const days = page.getByRole("group", { name: /^Days/ });
  for (const day of ["Mon", "Tue", "Wed", "Thu", "Fri"]) {
    await days.getByRole("checkbox", { name: day, exact: true }).check();
  }
  await page.getByLabel("Start time").fill("01:30");
  await page.getByLabel("Duration").fill("90m");
  await page.getByLabel("Time zone").fill("Mars/Olympus_Mons");
  await page.getByRole("button", { name: "Add maintenance window" }).click();
  await page.getByRole("alert").filter({ hasText: "unknown time zone 'Mars/Olympus_Mons'" })
    .waitFor();
  await page.getByLabel("Time zone").fill("America/New_York");
  await shot("11g-weekly-window-form");
  const lowOnWeekly = await page.evaluate(lowContrastTexts, 4.5);
  check(lowOnWeekly.length === 0, "weekly form contrast of 4.5:1: " + lowOnWeekly.join("; "));
  await page.getByRole("button", { name: "Add maintenance window" }).click();
  await page.getByRole("status")
    .filter({ hasText: "Maintenance window nightly backups added." }).waitFor();
  const nightly = await page.locator("#maintenance-rows tr").filter({ hasText: "nightly backups" })
    .locator("td").allTextContents();
  check(nightly[1] === 'service =~ "backup-.*"' &&
        nightly[3] === "weekly mon, tue, wed, thu, fri 01:30 for 1h30m (America/New_York)" &&
        nightly[4].startsWith("user:"), `the weekly window (${nightly.join(" | ")})`);
  check((await page.getByRole("alert").filter({ hasText: "time zone" }).count()) === 0,
        "the refusal is gone once the window is made");
  await shot("11h-weekly-window-added");

  // The audit log, as an admin: the responder's changes are there, filtered by action.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.getByLabel("E-mail").fill(env("DASHBOARD_ADMIN_EMAIL"));
  await page.getByLabel("Password").fill(env("DASHBOARD_PASSWORD"));
  await page.getByLabel("Password").press("Enter");
  await page.getByRole("alert").filter({ hasText: "You belong to several tenants" }).waitFor();
  await page.getByLabel(/^Tenant/).fill("acme");
  await page.getByLabel(/^Tenant/).press("Enter");
  await page.getByRole("heading", { name: "Incidents" }).waitFor();
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByRole("heading", { level: 1, name: "Audit log" }).waitFor();
  // The audit rows themselves, not the status line: the incident list, loaded by the sign-in
  // just before, may announce itself after the audit page does.
  await page.locator("#audit-rows tr td:nth-child(4)", { hasText: "incident.closed" }).waitFor();
  const actions = await page.locator("#audit-rows tr td:nth-child(4)").allTextContents();
  for (const action of ["incident.acknowledged", "incident.update", "incident.comment",
                        "incident.closed"]) {
    check(actions.includes(action), `${action} audited (${actions.join(", ")})`);
  }
  await page.getByLabel("Action").fill("incident.comment");
  await page.getByRole("button", { name: "Apply filters" }).click();
  await page.getByRole("status").filter({ hasText: "1 entry on page 1." }).waitFor();
  const entry = await page.locator("#audit-rows tr").first().locator("td").allTextContents();
  check(entry[2].startsWith("user:") && entry[5] === "success",
        `the comment's audit entry (${entry.join(" | ")})`);
  await shot("12-audit");

  // Enrollment tokens, as an admin, under Agents: made (shown once, as the command to run),
  // used by an agent over HTTP, and another revoked, which then cannot enroll.
  const enrollWith = (token) => fetch(new URL("/v1/agents/enroll", url), {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token, hostname: "e2e-enrolled", version: "1.4.2" }),
  });
  const makeToken = async () => {
    const before = await page.getByLabel("Enroll command").inputValue();
    await page.getByLabel("Valid for").selectOption("1h");
    await page.getByRole("button", { name: "Create enrollment token" }).click();
    await page.getByRole("status").filter({ hasText: /Enrollment token \w+ made/ }).waitFor();
    await page.waitForFunction(
      (old) => document.getElementById("token-command").value !== old, before);
    const command = await page.getByLabel("Enroll command").inputValue();
    const origin = new URL(url).origin;
    const made = command.match(/^faultline-agent enroll --server (\S+) --token (fet_\S+)$/);
    check(made && made[1] === origin, `the enroll command (${command})`);
    // The command is filled in before the list reloads, and the focus moves after it (the
    // status may still show the previous token's message): wait for the focus, then check it.
    await page.waitForFunction(() => document.activeElement.id === "token-made-title", null,
                               { timeout: 10000 }).catch(() => {});
    const focusedOn = await page.evaluate(() => document.activeElement.id);
    check(focusedOn === "token-made-title", `focus on the new token (${focusedOn})`);
    return made[2];
  };
  await page.getByRole("link", { name: "Agents", exact: true }).click();
  await page.getByRole("heading", { level: 2, name: "Enrollment tokens" }).waitFor();
  const used = await makeToken();
  const tokenStates = () => page.locator("#token-rows tr td:nth-child(4)").allTextContents();
  // The test's setup enrolled web-01 with a token from the CLI: that one is listed, used.
  const fresh = await tokenStates();
  check(JSON.stringify(fresh) === JSON.stringify(["unused", "used"]), `tokens listed (${fresh})`);
  check(!(await page.locator("#token-rows").textContent()).includes(used),
        "the list never shows the token");
  const enrolledReply = await enrollWith(used);
  check(enrolledReply.status === 201, `the token enrolls an agent (${enrolledReply.status})`);
  const revoked = await makeToken();
  await shot("11c-enrollment-token");
  const revokeButton = page.getByRole("button", { name: /^Revoke token / });
  check((await revokeButton.count()) === 1, "only the unused token can be revoked");
  await revokeButton.focus();
  await page.keyboard.press("Enter");
  await page.getByRole("status").filter({ hasText: "revoked." }).waitFor();
  check(await page.locator("#token-made").isHidden(), "the revoked token's command is gone");
  const states = await tokenStates();
  check(JSON.stringify(states) === JSON.stringify(["revoked", "used", "used"]),
        `the revoked token is listed as such (${states})`);
  check((await revokeButton.count()) === 0, "a revoked token has no Revoke button");
  const refusedReply = await enrollWith(revoked);
  check(refusedReply.status === 401, `a revoked token cannot enroll (${refusedReply.status})`);
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByRole("heading", { level: 1, name: "Audit log" }).waitFor();
  await page.getByLabel("Action").fill("enrollment_token.revoke");
  await page.getByRole("button", { name: "Apply filters" }).click();
  await page.getByRole("status").filter({ hasText: "1 entry on page 1." }).waitFor();
  await shot("11d-enrollment-token-revoked");

  // Integrations, as an admin: this tenant's one only.
  await page.getByRole("link", { name: "Integrations" }).click();
  await page.getByRole("heading", { level: 1, name: "Integrations" }).waitFor();
  await page.getByRole("status").filter({ hasText: "1 integration." }).waitFor();
  const integration = await page.locator("#integrations-rows td").allTextContents();
  check(integration[0] === "am" && integration[1] === "alertmanager" &&
        integration[5] === "active", `the integration (${integration.join(" | ")})`);
  await shot("13-integrations");
  // An admin creates an integration (its webhook URL shown once) and revokes it.
  await page.getByLabel("Integration name").fill("grafana prod");
  await page.getByLabel("Kind", { exact: true }).selectOption("grafana");
  await page.getByRole("button", { name: "Create integration" }).click();
  await page.getByRole("status").filter({ hasText: "Integration grafana prod created." })
    .waitFor();
  const hookUrl = await page.getByLabel("Webhook URL").inputValue();
  check(hookUrl.startsWith(new URL(url).origin + "/v1/hooks/"), `the webhook URL (${hookUrl})`);
  const postHook = () => fetch(hookUrl, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
  const live = await postHook();
  check(live.status !== 404, `the new key is known (${live.status})`);
  const made = await page.locator("#integrations-rows tr").filter({ hasText: "grafana prod" })
    .locator("td").allTextContents();
  check(made[1] === "grafana" && made[5] === "active", `the new integration (${made})`);
  check(!(await page.locator("#integrations-rows").textContent()).includes(
    hookUrl.split("/").pop()), "the list never shows the key");
  await shot("13b-integration-created");
  await page.getByRole("button", { name: "Revoke grafana prod" }).click();
  await page.getByRole("status").filter({ hasText: "Integration grafana prod revoked." })
    .waitFor();
  const revokedRow = await page.locator("#integrations-rows tr")
    .filter({ hasText: "grafana prod" }).locator("td").allTextContents();
  check(revokedRow[5] === "revoked", `revoked (${revokedRow})`);
  check(await page.locator("#integration-made").isHidden(), "the revoked key's URL is gone");
  const dead = await postHook();
  check(dead.status === 404, `a revoked key is refused (${dead.status})`);

  // A generic integration: the field mapping shows only for that kind; the server refuses a
  // mapping without a title pointer (its reason shown); then one is made, a JSON body posted to
  // its URL, and the event, mapped, is in the events list.
  const mappingGroup = page.getByRole("group", { name: /^Field mapping/ });
  check(await mappingGroup.isHidden(), "no field mapping for other kinds");
  await page.getByLabel("Integration name").fill("shop hooks");
  await page.getByLabel("Kind", { exact: true }).focus();
  await page.getByLabel("Kind", { exact: true }).selectOption("generic");
  await mappingGroup.waitFor();
  await page.getByLabel("Severity pointer").fill("/level");
  await page.getByRole("button", { name: "Create integration" }).click();
  await page.getByRole("alert").filter({ hasText: "mapping.title: required" }).waitFor();
  await page.getByLabel("Title pointer").fill("/alert/summary");
  await page.getByLabel("Service pointer").fill("/app");
  await page.getByLabel("Dedup key pointer").fill("/id");
  await page.getByLabel("Status pointer").fill("/state");
  await page.getByLabel("Labels pointer").fill("/tags");
  await page.getByLabel("Resolved status values").fill("ok, cleared");
  await shot("13c-generic-integration-form");
  const lowOnMapping = await page.evaluate(lowContrastTexts, 4.5);
  check(lowOnMapping.length === 0, "mapping form contrast of 4.5:1: " + lowOnMapping.join("; "));
  await page.getByRole("button", { name: "Create integration" }).click();
  await page.getByRole("status").filter({ hasText: "Integration shop hooks created." }).waitFor();
  check((await page.getByRole("alert").filter({ hasText: "mapping" }).count()) === 0,
        "the refusal is gone once the integration is made");
  const genericRow = await page.locator("#integrations-rows tr").filter({ hasText: "shop hooks" })
    .locator("td").allTextContents();
  check(genericRow[1].startsWith("generic") && genericRow[5] === "active",
        `the generic integration (${genericRow})`);
  // Its mapping, folded in the row, opened from the keyboard: what was typed, nothing empty.
  const genericKind = page.locator("#integrations-rows tr").filter({ hasText: "shop hooks" })
    .locator("td").nth(1);
  await genericKind.locator("summary").focus();
  await page.keyboard.press("Enter");
  const shownMapping = JSON.parse(await genericKind.locator("pre").textContent());
  check(JSON.stringify(shownMapping) === JSON.stringify({
    dedup_key: "/id", labels: "/tags", resolved_values: ["ok", "cleared"], service: "/app",
    severity: "/level", status: "/state", title: "/alert/summary" }),
        `the mapping listed (${JSON.stringify(shownMapping)})`);
  const genericUrl = await page.getByLabel("Webhook URL").inputValue();
  check(genericUrl.startsWith(new URL(url).origin + "/v1/hooks/"), `its URL (${genericUrl})`);
  await shot("13d-generic-integration-created");
  const shopBody = { id: "order-42", app: "shop-api", level: "critical", state: "firing",
                     alert: { summary: "Orders failing on shop-api" }, tags: { team: "shop" } };
  const shopReply = await fetch(genericUrl, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(shopBody) });
  check(shopReply.status === 202, `the generic receiver takes the body (${shopReply.status})`);
  await page.getByRole("link", { name: "Events", exact: true }).click();
  await page.getByRole("heading", { level: 1, name: "Events" }).waitFor();
  await page.getByLabel("Text").fill("Orders failing");
  await page.getByRole("button", { name: "Apply filters" }).click();
  await page.getByRole("status").filter({ hasText: "1 event on page 1." }).waitFor();
  const shopCells = await page.locator("#events-rows tr").first().locator("td").allTextContents();
  check(shopCells[1] === "shop-api" && shopCells[2] === "critical" && shopCells[3] === "generic" &&
        shopCells[5] === "Orders failing on shop-api", `the mapped event (${shopCells})`);
  await page.getByRole("link", { name: "Orders failing on shop-api" }).focus();
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { level: 2, name: "Event: Orders failing on shop-api" })
    .waitFor();
  const shopRaw = await page.locator("#event-raw").textContent();
  check(shopRaw.includes('"order-42"'), `the raw generic body (${shopRaw.slice(0, 200)})`);
  const shopFacts = await page.locator("#event-facts").textContent();
  check(shopFacts.includes("team=shop"), `the mapped labels (${shopFacts})`);
  await shot("13e-generic-event");
  await page.getByLabel("Text").fill("");

  // Switch tenant: no password again; the session is swapped for one in the other tenant, whose
  // incidents show and none of this one's.
  await page.getByLabel("Switch tenant").selectOption("other");
  await page.waitForFunction(() => document.getElementById("who-tenant").textContent === "other");
  await page.getByRole("heading", { name: "Incidents" }).waitFor();
  check(await page.locator("#login-view").isHidden(), "no sign-in form on a switch");
  await page.getByRole("link", { name: env("DASHBOARD_HIDDEN_TEXT") }).first().waitFor();
  check((await page.getByRole("link", { name: title }).count()) === 0, "acme's incident gone");
  check((await page.getByRole("link", { name: "Audit log" }).count()) === 0,
        "a viewer there: no audit log");
  await shot("14-switched-tenant");
  const lowOnAudit = await page.evaluate(lowContrastTexts, 4.5);
  check(lowOnAudit.length === 0, "audit contrast of at least 4.5:1: " + lowOnAudit.join("; "));
  check(problems.length === 0, "no console errors: " + problems.join(" | "));
  console.log("dashboard e2e: ok");
} catch (error) {
  failed = true;
  console.error(error);
  try {
    await shot("failure");
  } catch (e) {
    console.error("no failure screenshot: " + e.message);
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
