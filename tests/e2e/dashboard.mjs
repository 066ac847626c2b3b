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
// Expected refusals: the wrong password, and the icon the page does not have.
page.on("response", (response) => {
  const where = new URL(response.url()).pathname;
  const expected = (response.status() === 401 && where === "/v1/auth/login") ||
                   (response.status() === 404 && where === "/favicon.ico");
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

  await page.getByRole("button", { name: "Resolve" }).click();
  await page.getByRole("status").filter({ hasText: "Incident resolved." }).waitFor();
  check((await page.locator("#detail-state").textContent()) === "resolved", "resolved");
  const timeline = await page.locator("#timeline").textContent();
  check(timeline.includes("user:"), `the timeline names the user (${timeline})`);
  await shot("05-resolved");

  // Back to the list: the state there follows.
  await page.getByRole("link", { name: "All incidents" }).click();
  await page.getByRole("heading", { name: "Incidents" }).waitFor();
  await page.getByRole("row").filter({ hasText: "resolved" }).waitFor();
  await shot("06-list-after");
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
