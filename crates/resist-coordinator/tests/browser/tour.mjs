// Drives headless Chromium through the coordinator's web pages for
// tests/dashboard.rs, which starts the coordinator, gives this script a plan
// as JSON on stdin, and checks what it prints (JSON on stdout). This script
// only drives and records; the assertions are in the Rust test.
//
// JavaScript is disabled in the browser: the pages must work without it.
//
// Plan: { base, chromium, token, wrongToken, outDir,
//         pages: [{ name, path, shots: [{ selector, file }] }],   // logged in
//         public: [{ name, path, shots: [...] }] }                // logged out

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const plan = JSON.parse(await new Promise((resolve, reject) => {
  let data = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (c) => { data += c; });
  process.stdin.on('end', () => resolve(data));
  process.stdin.on('error', reject);
}));

const profile = mkdtempSync(join(tmpdir(), 'resist-dashboard-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: plan.chromium,
  headless: true,
  chromiumSandbox: false,
  javaScriptEnabled: false,
  viewport: { width: 1200, height: 900 },
  args: [
    '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
  ],
  timeout: 60_000,
});
const out = { steps: {} };

async function record(page, response, name, shots = []) {
  const step = {
    url: page.url(),
    status: response ? response.status() : null,
    headers: response ? await response.allHeaders() : {},
    title: await page.title(),
    text: await page.locator('body').innerText(),
    html: await page.content(),
    shots: {},
  };
  const full = join(plan.outDir, `${name}.png`);
  await page.screenshot({ path: full, fullPage: true });
  step.shots.page = full;
  for (const shot of shots) {
    const file = join(plan.outDir, shot.file);
    const element = page.locator(shot.selector).first();
    step.shots[shot.file] = { file, box: await element.boundingBox() };
    await element.screenshot({ path: file });
  }
  out.steps[name] = step;
}

async function submit(page, button, method, path) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === method && new URL(r.url()).pathname === path),
    page.locator(button).click(),
  ]);
  await page.waitForLoadState('load');
  return response;
}

try {
  const page = await context.newPage();
  // Not logged in: the dashboard sends the browser to the login form.
  let response = await page.goto(`${plan.base}/`);
  await record(page, response, 'login');

  // A wrong token: the form again, with the reason.
  await page.locator('#token').fill(plan.wrongToken);
  response = await submit(page, 'form.login button[type=submit]', 'POST', '/login');
  await record(page, response, 'login-refused');

  // The right token: the dashboard, and a session cookie.
  await page.locator('#token').fill(plan.token);
  await submit(page, 'form.login button[type=submit]', 'POST', '/login');
  out.afterLogin = page.url();
  out.cookies = await context.cookies();

  for (const p of plan.pages) {
    response = await page.goto(`${plan.base}${p.path}`);
    await record(page, response, p.name, p.shots);
  }

  // Log out with the button; the dashboard is then closed again.
  await page.goto(`${plan.base}/`);
  await submit(page, 'form[action="/logout"] button', 'POST', '/logout');
  out.afterLogout = page.url();
  out.cookiesAfterLogout = await context.cookies();
  response = await page.goto(`${plan.base}/`);
  out.dashboardAfterLogout = page.url();

  for (const p of plan.public) {
    response = await page.goto(`${plan.base}${p.path}`);
    await record(page, response, p.name, p.shots);
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out));
