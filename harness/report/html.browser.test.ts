import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { writeReportHtml } from './html.ts';
import { failingRun, loopbackRun, passingRun, SERVICES } from './testing.ts';
import type { RunInput } from './model.ts';

/**
 * report.html in a real browser: Debian's chromium driven by playwright-core, offline (every
 * request that is not the file itself is aborted and counted). A passing, a failing and a
 * loopback-mode run: no console errors, the right counts, the failed check and its diagnosis
 * visible, a timeline lane per service, the probe grid's mismatch marked. Screenshots go to
 * the temp dir. Without chromium (`apt-get install chromium`) the suite is skipped and says so.
 */
const CHROMIUM = process.env.HARNESS_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let playwright: typeof import('playwright-core') | undefined;
let skip: string | undefined;
if (!fs.existsSync(CHROMIUM)) skip = `${CHROMIUM} is missing (apt-get install chromium)`;
else {
  try {
    playwright = await import('playwright-core');
  } catch (e) {
    skip = `playwright-core cannot be loaded (${(e as Error).message.split('\n')[0]}; npm ci installs it)`;
  }
}
if (skip) console.warn(`report.html browser test skipped: ${skip}`);

interface Rendered {
  name: string;
  file: string;
  run: RunInput;
  page: Page;
  errors: string[];
  offline: string[];
}

describe.skipIf(!!skip)(`report.html in chromium${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let ctx: BrowserContext;
  let dir: string;
  let profile: string;
  const pages = new Map<string, Rendered>();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eh-report-browser-'));
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'eh-chromium-profile-'));
    ctx = await playwright!.chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1500, height: 1000 } });
    await ctx.route('**/*', (route) => (route.request().url().startsWith('file://') ? route.continue() : route.abort()));
    for (const [name, make] of [
      ['passing', passingRun],
      ['failing', failingRun],
      ['loopback', loopbackRun],
    ] as const) {
      const runDir = path.join(dir, name);
      const run = make(runDir);
      fs.mkdirSync(runDir, { recursive: true });
      fs.writeFileSync(path.join(runDir, 'logs.json'), JSON.stringify(run.logs));
      const file = writeReportHtml(runDir, run.timeline, run.report);
      const page = await ctx.newPage();
      const errors: string[] = [];
      const offline: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('request', (r) => {
        if (!r.url().startsWith('file://')) offline.push(r.url());
      });
      await page.goto(`file://${file}`, { waitUntil: 'load' });
      pages.set(name, { name, file, run, page, errors, offline });
    }
  }, 90_000);

  afterAll(async () => {
    await ctx?.close();
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const count = async (p: Page, k: string) => Number(await p.locator(`[data-count="${k}"] b`).innerText());

  it('renders every run without a console error and without fetching anything', async () => {
    for (const r of pages.values()) {
      expect(r.errors, r.name).toEqual([]);
      expect(r.offline, r.name).toEqual([]);
      await r.page.screenshot({ path: path.join(os.tmpdir(), `escher-report-${r.name}.png`), fullPage: true });
    }
  }, 60_000);

  it('a passing run: PASSED, its counts, no failures section, a lane per service, no mismatch', async () => {
    const { page, run } = pages.get('passing')!;
    const checks = run.report!.checks;
    expect(await page.locator('[data-verdict]').innerText()).toBe('PASSED');
    expect(await count(page, 'passed')).toBe(checks.filter((c) => c.status === 'passed').length);
    expect(await count(page, 'failed')).toBe(0);
    expect(await count(page, 'not-verified')).toBe(1);
    expect(await page.locator('#failures').count()).toBe(0);
    for (const s of SERVICES) expect(await page.locator(`svg.timeline g.lane[data-lane="${s.name}"]`).count(), s.name).toBeGreaterThan(0);
    expect(await page.locator('svg.timeline g.lane[data-lane="scripts"]').count()).toBeGreaterThan(0);
    expect(await page.locator('td[data-outcome="mismatch"]').count()).toBe(0);
    expect(await page.locator('td[data-outcome="ok"]').count()).toBe(7);
  });

  it('a failing run: FAILED, its counts, the failed check with its diagnosis and log lines, the rollback, the mismatch in red', async () => {
    const { page } = pages.get('failing')!;
    expect(await page.locator('[data-verdict]').innerText()).toBe('FAILED');
    expect(await count(page, 'passed')).toBe(8);
    expect(await count(page, 'failed')).toBe(2);
    expect(await count(page, 'not-verified')).toBe(0);
    const card = page.locator('#failures article.failure').first();
    await expect.poll(() => card.isVisible()).toBe(true);
    expect(await card.locator('h3').innerText()).toContain('acme-web: PRIMARY deployment on acme-web:2 and COMPLETED');
    expect(await card.locator('.diagnosis').innerText()).toMatch(/tasks fail their health check.*false green/);
    expect(await card.locator('dd.observed').innerText()).toContain('acme-web:2 FAILED');
    expect(await card.locator('.loglines').first().innerText()).toContain('Error: ORDERS_TOKEN is not set');
    expect(await page.getByText('FALSE GREEN').first().isVisible()).toBe(true);
    for (const s of SERVICES) expect(await page.locator(`svg.timeline g.lane[data-lane="${s.name}"]`).count(), s.name).toBeGreaterThan(0);
    expect(await page.locator('svg.timeline g.rollback[data-rollback="acme-web"]').count()).toBe(1);
    expect(await page.locator('svg.timeline g.task.failed').count()).toBe(3);
    expect(await page.locator('svg.timeline g.task[data-health="UNHEALTHY"]').count()).toBe(3);
    const bad = page.locator('td[data-outcome="mismatch"]');
    expect(await bad.count()).toBe(1);
    expect(await bad.getAttribute('data-probe')).toMatch(/^acme-web 10\.1\.\d+\.\d+ → acme-catalog:7000$/);
    expect(await bad.evaluate((el) => getComputedStyle(el).backgroundColor)).toBe('rgb(207, 34, 46)');
    expect(await bad.isVisible()).toBe(true);
  });

  it('the checks filter (page script) shows only the failed checks', async () => {
    const { page } = pages.get('failing')!;
    await page.locator('.filters button[data-filter="failed"]').click();
    const visible = await page.locator('table.checks tr.row').evaluateAll((rows) => rows.filter((r) => (r as HTMLElement).offsetParent !== null).map((r) => r.getAttribute('data-status') ?? 'probes'));
    expect(visible.length).toBeGreaterThan(0);
    expect(visible.every((s) => s === 'failed' || s === 'probes')).toBe(true);
    await page.locator('.filters button[data-filter="all"]').click();
  });

  it('a loopback run: the probes not verified, hatched, none marked as a mismatch', async () => {
    const { page } = pages.get('loopback')!;
    expect(await count(page, 'not-verified')).toBe(8);
    expect(await page.locator('td[data-outcome="not-verified"]').count()).toBe(7);
    expect(await page.locator('td[data-outcome="mismatch"]').count()).toBe(0);
  });
});
