// Times the dashboard's first screens for tests/bench/dashboard_first_screen.py: signs in, then
// loads each view from scratch DASHBOARD_RUNS times until its first row is visible.
import { chromium } from "playwright-core";

const url = process.env.DASHBOARD_URL;
const runs = Number(process.env.DASHBOARD_RUNS || "5");
const browser = await chromium.launch({
  executablePath: process.env.FAULTLINE_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const page = await browser.newPage({ viewport: { width: 1366, height: 800 } });
await page.goto(url);
await page.getByLabel("E-mail").fill(process.env.DASHBOARD_EMAIL);
await page.getByLabel("Password").fill(process.env.DASHBOARD_PASSWORD);
await page.getByLabel("Password").press("Enter");
await page.locator("#incident-rows tr").first().waitFor({ timeout: 60000 });
for (const [name, hash, rows] of [["incidents", "#/incidents", "#incident-rows tr"],
                                  ["events", "#/events", "#events-rows tr"]]) {
  const times = [];
  for (let i = 0; i < runs; ++i) {
    const started = Date.now();
    await page.goto(url + hash);
    await page.locator(rows).first().waitFor({ timeout: 60000 });
    times.push(Date.now() - started);
  }
  times.sort((a, b) => a - b);
  console.log(`${name}: page load to the first row, ${runs} runs: ` +
              `median ${times[Math.floor(runs / 2)]} ms, worst ${times[runs - 1]} ms`);
}
await browser.close();
