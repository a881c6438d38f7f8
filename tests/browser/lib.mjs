// What the browser tests share: the service's address and tokens (from the environment that
// ./run.sh sets up), the Chromium launch, and the steps every story takes: open a page, take a
// screenshot, chat in the widget, sign in to the console, call the agent API, read the callbacks.
//
// This file sits outside tests/ on purpose: run.sh hands that directory to `node --test`, and
// this module is no test.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

// The defaults let a test run against a service started by hand.
export const BASE = process.env.SR_BASE_URL || 'http://127.0.0.1:8080';
export const SHOP = process.env.SR_SHOP || 'demo';
export const AGENT_TOKEN = process.env.SR_AGENT_TOKEN || 'change-me-too';
export const AGENT = process.env.SR_AGENT_NAME || 'alice';
export const OTHER_TOKEN = process.env.SR_OTHER_TOKEN || '';
export const OTHER_SHOP = process.env.SR_OTHER_SHOP || 'rival';
export const CALLBACK_LOG = process.env.SR_CALLBACK_LOG || ''; // empty: no callback receiver, those tests skip
export const ARTIFACTS = process.env.SR_ARTIFACTS || new URL('./artifacts/', import.meta.url).pathname;
export const FAQ_QUESTION = process.env.SR_FAQ_QUESTION || 'Do you offer free shipping?';

fs.mkdirSync(ARTIFACTS, { recursive: true });

/** Debian's Chromium (run.sh passes its path), headless, without the background traffic. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
}

/**
 * A page in a fresh context (so each shopper is a separate visitor). Every JS dialog it opens is
 * dismissed and its message pushed to `dialogs`, which the tests assert stays empty; page errors
 * and console errors are printed, to explain a failure.
 */
export async function openPage(browser, dialogs, opts = {}) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 }, locale: 'en-US', ...opts });
  const page = await context.newPage();
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => console.error('[page error]', e.message));
  page.on('console', (m) => { if (m.type() === 'error') console.error('[console]', m.text()); });
  return page;
}

export async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, name) });
}

/** Opens the demo storefront and the widget (first time), sends one message; returns the service's answer. */
export async function shopperSays(page, text) {
  if (!page.url().endsWith('/demo')) {
    await page.goto(BASE + '/demo');
    await page.locator('.sr-bubble').click();
    await page.locator('.sr-input').waitFor();
  }
  const answer = page.waitForResponse((r) => r.url().includes(`/v1/widget/${SHOP}/messages`) && r.request().method() === 'POST');
  await page.locator('.sr-input').fill(text);
  await page.locator('.sr-input').press('Enter');
  const res = await answer;
  assert.equal(res.status(), 200, `widget message answered ${res.status()}: ${await res.text()}`);
  return res.json();
}

/** Signs in to the console with `token` and waits until the live event stream is connected. */
export async function signIn(page, token) {
  await page.goto(BASE + '/console');
  await page.locator('#token').fill(token);
  await page.locator('#token').press('Enter');
  await page.locator('#app').waitFor();
  await page.locator('#live[data-state="on"]').waitFor({ timeout: 10_000 });
}

/** The agent API as the test's agent, outside the browser: {status, body} (JSON parsed when it is JSON). */
export async function agentApi(pathAndQuery, init = {}) {
  const res = await fetch(BASE + pathAndQuery, {
    ...init,
    headers: { Authorization: 'Bearer ' + AGENT_TOKEN, ...(init.body ? { 'Content-Type': 'application/json' } : {}), ...(init.headers || {}) },
  });
  const type = res.headers.get('content-type') || '';
  return { status: res.status, body: type.includes('json') ? await res.json() : await res.text() };
}

/** What the callback receiver got so far: one {method, url, headers, body} per line of its jsonl log. */
export function callbacks() {
  return fs.existsSync(CALLBACK_LOG) ? fs.readFileSync(CALLBACK_LOG, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
}

/** Polls `fn` every 250 ms until it returns something truthy, and returns that; fails after `ms`. */
export async function waitFor(what, fn, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    assert.ok(Date.now() < deadline, `${what}: not within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
