/** Headless Chromium on a shell page: log in, open the page, wait until the terminal is connected. */
import type { Browser as Chromium, Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

export async function chromiumShell(browser: Chromium, base: string, user: string, path: string): Promise<{ page: Page; close: () => Promise<void> }> {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await ctx.newPage();
  await page.goto(`${base}/hub/login?next=${encodeURIComponent(path)}`);
  await page.fill('#username', user);
  await page.fill('#password', 'any-password');
  await Promise.all([page.waitForURL((u) => u.pathname === path, { timeout: 30_000 }), page.click('#login_submit')]);
  await page.locator('#shell-status', { hasText: /^Connected/ }).waitFor({ timeout: 30_000 });
  await page.locator('.xterm-rows').waitFor();
  // A prompt is there once the login shell has read its profile.
  await page.waitForFunction(() => (document.querySelector('.xterm-rows')?.textContent ?? '').trim().length > 0, undefined, { timeout: 15_000 });
  await page.click('#terminal');
  return { page, close: () => ctx.close() };
}
