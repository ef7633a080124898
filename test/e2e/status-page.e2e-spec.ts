import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { offlineConfig, startAgent, type RunningAgent } from '../support/agent-app.js';
import { SdkSocket } from '../support/sdk-socket.js';
import { CLIENT_SECRET, RELAY_PROXY_KEY, SERVER_SECRET } from '../support/sample-data.js';
import { StatusPageController } from '../../src/status/status-page.controller.js';

/** The flags keep the browser off this machine's closed network. */
const FLAGS = ['--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A browser from npm (@sparticuz/chromium unpacks its own build), or CHROMIUM_PATH's when set. */
async function launchChromium(): Promise<Browser> {
  const own = process.env['CHROMIUM_PATH'];
  if (own !== undefined) return chromium.launch({ executablePath: own, args: ['--headless', '--no-sandbox', '--disable-gpu', ...FLAGS] });
  const packaged = (await import('@sparticuz/chromium')).default;
  return chromium.launch({ executablePath: await packaged.executablePath(), args: [...packaged.args, ...FLAGS] });
}

describe(StatusPageController.name, () => {
  let agent: RunningAgent;
  let browser: Browser;
  before(async () => {
    agent = await startAgent();
    browser = await launchChromium();
  });
  after(async () => {
    await browser.close();
    await agent.close();
  });

  it('renders the agent state in Chromium, refreshes live, and shows no secret', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    await page.goto(agent.httpUrl);
    // Environment keys only with the relay proxy key, typed in by the operator.
    await page.waitForFunction("document.getElementById('serves')?.textContent === '1 environment'");
    await page.fill('#key', RELAY_PROXY_KEY);
    await page.click('#key-form button');
    await page.waitForFunction("document.getElementById('serves')?.textContent === 'shop:prod'");
    assert.equal(await page.isHidden('#key-form'), true);
    assert.equal(await page.textContent('#summary'), 'offline mode · memory store');
    assert.equal(await page.textContent('#health'), 'Healthy');
    assert.equal(await page.textContent('#sync'), 'None');
    assert.match((await page.textContent('#version')) ?? '', /^2026-01-04T12:10:00Z$/);
    assert.match((await page.textContent('#connections')) ?? '', /server SDKs0client SDKs0/);

    // A connection appears on the next refresh.
    const sdk = SdkSocket.forSecret(agent.wsUrl, 'server', SERVER_SECRET);
    await sdk.opened;
    await page.waitForFunction("/server SDKs1/.test(document.getElementById('connections')?.textContent ?? '')", undefined, { timeout: 5000 });

    const html = await page.content();
    for (const secret of [SERVER_SECRET, CLIENT_SECRET, RELAY_PROXY_KEY]) assert.ok(!html.includes(secret), 'a secret on the page');
    const dir = join(process.cwd(), '.test-build', 'screenshots');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'status-page.png');
    const png = await page.screenshot({ path: file, fullPage: true });
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
    assert.ok(statSync(file).size > 10_000, 'the screenshot shows a rendered page');
    sdk.close();
  });

  it('is off with STATUS_PAGE=false', async () => {
    const quiet = await startAgent(offlineConfig({ statusPage: false }));
    try {
      assert.equal((await fetch(`${quiet.httpUrl}/`)).status, 404);
      assert.equal((await fetch(`${quiet.httpUrl}/status.json`)).status, 404);
    } finally {
      await quiet.close();
    }
  });
});
