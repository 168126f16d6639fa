// What every browser test file needs: Debian's Chromium under Playwright, and a session on one
// baas site (open a page and wait for hydration, log in and out, numbered screenshots).

import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const binary = process.env.BAAS_BIN ?? join(root, 'target', 'debug', 'baas');
export const siteRoot = process.env.BAAS_SITE_ROOT ?? join(root, 'target', 'site');
export const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Chromium, headless, with nothing reaching out beyond the sites the test opens. */
export function launchChromium(executablePath = chromiumPath) {
  return chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** `YYYY-MM-DDTHH:MM` for a Date, in UTC, as the portal's form values are. */
export function utc(date) {
  return date.toISOString().slice(0, 16);
}

/** Page helpers bound to one browser and one site; screenshots go to `end2end/artifacts/<name>/`. */
export function session(browser, base, name) {
  const artifacts = join(root, 'end2end', 'artifacts', name);
  rmSync(artifacts, { recursive: true, force: true });
  mkdirSync(artifacts, { recursive: true });
  let shot = 0;

  async function screenshot(page, what) {
    shot += 1;
    await page.screenshot({ path: join(artifacts, `${String(shot).padStart(2, '0')}-${what}.png`), fullPage: true });
  }

  /** Opens `path` and waits until the page is hydrated (interactive). */
  async function open(page, path) {
    await page.goto(`${base}${path}`);
    await page.waitForSelector('body[data-hydrated]', { timeout: 30_000 });
  }

  async function logIn(username, password, contextOptions = {}) {
    const context = await browser.newContext(contextOptions);
    const page = await context.newPage();
    // A page error fails the test with what the page printed just before (a wasm panic's
    // message is printed by the panic hook; the error itself only says "unreachable").
    const recent = [];
    page.on('console', (message) => {
      recent.push(`${message.type()}: ${message.text().slice(0, 2000)}`);
      if (recent.length > 20) recent.shift();
    });
    page.on('pageerror', (error) => {
      error.message = `${error.message} on ${page.url()}; the page's last console messages:\n${recent.join('\n')}`;
      throw error;
    });
    // Whatever the page's Content-Security-Policy blocks is a bug: the app must need nothing
    // it forbids. Chromium reports each block on the console; logOut fails on any.
    page.blocked = [];
    page.on('console', (message) => {
      if (message.text().includes('Content Security Policy')) page.blocked.push(`${page.url()}: ${message.text()}`);
    });
    await open(page, '/login');
    await page.fill('input[name=username]', username);
    await page.fill('input[name=password]', password);
    await Promise.all([
      page.waitForURL(`${base}/`),
      page.click('button[type=submit]'),
    ]);
    await page.waitForSelector('body[data-hydrated]');
    assert.equal(await page.textContent('[data-testid=whoami]'), username);
    return page;
  }

  /** Fails when the page's Content-Security-Policy refused anything on this page so far. */
  function assertNothingBlocked(page) {
    assert.deepEqual(page.blocked ?? [], [], `blocked by the Content-Security-Policy:\n${(page.blocked ?? []).join('\n')}`);
  }

  async function logOut(page) {
    assertNothingBlocked(page);
    await Promise.all([page.waitForURL(`${base}/login`), page.click('text=Log out')]);
    await page.context().close();
  }

  return { artifacts, screenshot, open, logIn, logOut, assertNothingBlocked };
}
