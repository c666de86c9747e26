/**
 * A refused spawn options form (issue 10 item 1) in Chromium: the form comes back with what the
 * user chose and the reason beside the refused field, and nothing is started. Swarm's form and
 * parseOptions run in the hub without Docker until a spawn really happens, and the refusal comes
 * before that. The refused value is put into the page the way a stale or edited page would send it.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { startTestHub, type TestHub } from '../hub/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

describe.skipIf(!existsSync(CHROMIUM))('refused options form in Chromium', () => {
  let th: TestHub;
  let browser: Browser;
  beforeAll(async () => {
    th = await startTestHub({
      spawner: {
        kind: 'swarm',
        swarm: {
          hubId: 'formreject',
          images: [
            { image: 'quay.io/jupyter/base-notebook:2024-10-07', name: 'Python' },
            { image: 'quay.io/jupyter/r-notebook:2024-10-07', name: 'R' },
          ],
          cpuChoices: [1, 2],
          memoryChoices: ['1G', '2G'],
        },
      },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await th?.teardown();
  });

  it('shows the form again with the values kept and the message beside the field', async () => {
    const page = await browser.newPage();
    await page.goto(`${th.url}/hub/login?next=${encodeURIComponent('/hub/spawn')}`);
    await page.fill('#username', 'carol');
    await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('#login_submit')]);
    expect(await page.textContent('h1')).toContain('Server options');
    await page.selectOption('#opt-image', 'quay.io/jupyter/r-notebook:2024-10-07');
    await page.selectOption('#opt-memory', '2G');
    // A value the form never offered (an old tab, an edited page): the server must refuse it.
    await page.evaluate(() => {
      const s = document.querySelector('#opt-cpu') as HTMLSelectElement;
      s.add(new Option('lots', 'lots'));
      s.value = 'lots';
    });
    const [res] = await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('button[type=submit]')]);
    expect(res!.status()).toBe(400);
    expect(await page.textContent('h1')).toContain('Server options');
    expect(await page.textContent('#options-error')).toMatch(/CPU cores.*lots.*not a positive number/);
    expect(await page.getAttribute('#opt-cpu', 'aria-invalid')).toBe('true');
    expect(await page.textContent('#opt-cpu-error')).toMatch(/lots/);
    expect(await page.getAttribute('#opt-memory', 'aria-invalid')).toBeNull();
    // What the user chose is still chosen.
    expect(await page.inputValue('#opt-image')).toBe('quay.io/jupyter/r-notebook:2024-10-07');
    expect(await page.inputValue('#opt-memory')).toBe('2G');
    expect(th.running.hub.spawns.get('carol', '')).toBeUndefined();
    await page.close();
  }, 30_000);

  it('a forged image is refused beside the Image field, with a fresh XSRF field to try again', async () => {
    const page = await browser.newPage();
    await page.goto(`${th.url}/hub/login?next=${encodeURIComponent('/hub/spawn')}`);
    await page.fill('#username', 'dave');
    await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('#login_submit')]);
    await page.evaluate(() => {
      const s = document.querySelector('#opt-image') as HTMLSelectElement;
      s.add(new Option('evil', 'evil/miner:latest'));
      s.value = 'evil/miner:latest';
    });
    const [res] = await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('button[type=submit]')]);
    expect(res!.status()).toBe(400);
    // The image field is named, escaped text, and a fresh XSRF field lets the user submit again.
    expect(await page.textContent('#options-error')).toMatch(/Image.*evil\/miner:latest.*not one of the offered images/);
    expect(await page.getAttribute('#opt-image', 'aria-invalid')).toBe('true');
    expect(await page.locator('input[name=_xsrf]').count()).toBe(1);
    expect(th.running.hub.spawns.get('dave', '')).toBeUndefined();
    await page.close();
  }, 30_000);
});
