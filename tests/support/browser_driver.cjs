// Test support: drives Debian's chromium through playwright-core, one JSON command per line on
// stdin, one JSON answer per line on stdout ({id, ok, value} or {id, ok: false, error}).
// Started by tests/support/browser.py; PLAYWRIGHT_CORE names the installed module's folder.
"use strict";
const readline = require("readline");
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
let context = null;
let page = null;

const ops = {
  async launch({ userDataDir, executablePath }) {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath, headless: true, args: ARGS, viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] || (await context.newPage());
    return true;
  },
  async goto({ url }) {
    const response = await page.goto(url, { waitUntil: "load" });
    return { status: response ? response.status() : null, url: page.url() };
  },
  async url() { return page.url(); },
  async click({ selector }) { await page.click(selector); return true; },
  async select({ selector, value }) { await page.selectOption(selector, value); return true; },
  async type({ text }) { await page.keyboard.type(text); return true; },
  async press({ key }) { await page.keyboard.press(key); return true; },
  async text({ selector }) { return await page.textContent(selector); },
  async waitText({ selector, text, timeout }) {
    await page.waitForFunction(
      ([s, t]) => { const el = document.querySelector(s); return !!el && el.textContent.includes(t); },
      [selector, text], { timeout, polling: 100 },
    );
    return true;
  },
  async waitUrl({ prefix, timeout }) {
    await page.waitForURL((u) => u.toString().startsWith(prefix), { timeout });
    return page.url();
  },
  async evaluate({ expression }) { return await page.evaluate(expression); },
  async screenshot({ path }) { await page.screenshot({ path, fullPage: true }); return path; },
  async close() { if (context) await context.close(); context = null; return true; },
};

const lines = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
lines.on("line", (line) => {
  chain = chain.then(async () => {
    const { id, op, ...args } = JSON.parse(line);
    try {
      const value = await ops[op](args);
      process.stdout.write(JSON.stringify({ id, ok: true, value }) + "\n");
    } catch (err) {
      process.stdout.write(JSON.stringify({ id, ok: false, error: String(err && err.message || err) }) + "\n");
    }
  });
});
lines.on("close", () => { chain.then(() => (context ? context.close() : null)).then(() => process.exit(0)); });
