/**
 * Runs the fake FeatBit evaluation server by hand: `npm run fake-featbit`, then start the agent
 * with MODE=agent STREAMING_URI=ws://localhost:5100 API_KEY=<the key printed here>.
 * Env: PORT (5100), RELAY_PROXY_KEY, FLIP_EVERY_SECONDS (0 = never) toggles `dark-mode`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_RELAY_PROXY_KEY, FakeFeatBitServer, type BootstrapLike, type InsightRecord, type StatusReport } from './fake-featbit-server.js';

const dataFile = join(process.cwd(), 'data', 'sample-bootstrap.json');
const data = JSON.parse(readFileSync(dataFile, 'utf8')) as BootstrapLike;
const relayProxyKey = process.env['RELAY_PROXY_KEY'] ?? DEFAULT_RELAY_PROXY_KEY;
const fake = await FakeFeatBitServer.start({ port: Number(process.env['PORT'] ?? 5100), relayProxyKey, data });
const log = (text: string): void => console.log(`${new Date().toISOString()} ${text}`);

log(`fake FeatBit evaluation server on ${fake.httpUrl} with ${dataFile}`);
log(`run the agent with: MODE=agent STREAMING_URI=${fake.streamingUrl} EVENT_URI=${fake.httpUrl} API_KEY=${relayProxyKey} npm start`);
fake.on('registration', (agentId: string) => log(`agent registered: ${agentId}`));
fake.on('connection', () => log('relay-proxy connection opened'));
fake.on('disconnect', () => log('relay-proxy connection closed'));
fake.on('rejected', () => log('relay-proxy connection rejected: wrong key (4003)'));
fake.on('data-sync-request', (request: unknown) => log(`data-sync request ${JSON.stringify(request)}`));
fake.on('status', (report: StatusReport) => log(`status from ${report.agentId}: ${report.raw}`));
fake.on('insight', (record: InsightRecord) => log(`insights: ${Array.isArray(record.body) ? record.body.length : 0} events`));

const envId = data.items[0]?.envId ?? '';
const every = Number(process.env['FLIP_EVERY_SECONDS'] ?? 0);
if (every > 0 && envId) {
  setInterval(() => {
    const flag = fake.flag(envId, 'dark-mode');
    if (!flag) return;
    const next = fake.upsertFlag(envId, { ...flag, isEnabled: flag['isEnabled'] !== true, updatedAt: new Date().toISOString() });
    log(`dark-mode is now ${next['isEnabled'] === true ? 'enabled' : 'disabled'} (pushed as a live patch)`);
  }, every * 1000);
}

const stop = (): void => {
  void fake.stop().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
