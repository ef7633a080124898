/**
 * Idle SDK WebSockets held by one agent process: RSS per connection, and the time for one
 * bootstrap change to reach all N sockets (p50/p99/max), beside a plain `ws` server holding the
 * same number of sockets and broadcasting the same bytes, in the same run.
 * `--type server` (default): server SDKs; targets at 10,000: ≤ 6 KiB RSS per socket, p99 ≤ 150 ms.
 * `--type client`: client SDKs, each with its own user, so every push is evaluated per user;
 * target at 10,000: p99 ≤ 300 ms.
 * Usage: node .test-build/bench/streaming.bench.js [--n 1000,10000] [--type server|client]
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { startServerChild, percentile, type ServerChild } from './support/child.js';
import { CLIENT_SECRET, RELAY_PROXY_KEY, SAMPLE_DATA_FILE, SERVER_SECRET, sampleBootstrap } from '../test/support/sample-data.js';
import { tokenFor } from '../test/support/sdk-socket.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '1000,10000' }, type: { type: 'string', default: 'server' } } });
const sizes = values.n.split(',').map(Number);
const clientMode = values.type === 'client';
const SECRET = clientMode ? CLIENT_SECRET : SERVER_SECRET;

/** The data-sync an SDK sends first: server SDKs ask for everything; client SDKs bring their user. */
function firstSync(i: number): string {
  if (!clientMode) return '{"messageType":"data-sync","data":{"timestamp":0}}';
  const user = {
    keyId: `bench-user-${i}`,
    name: `User ${i}`,
    customizedProperties: [
      { name: 'country', value: ['us', 'ca', 'de', 'fr'][i % 4] },
      { name: 'age', value: String(10 + (i % 60)) },
      { name: 'email', value: `user${i}@${i % 3 === 0 ? 'example.com' : 'mail.org'}` },
      { name: 'company', value: ['acme', 'hooli', 'globex'][i % 3] },
    ],
  };
  return JSON.stringify({ messageType: 'data-sync', data: { timestamp: 0, user } });
}

interface Client {
  socket: WebSocket;
  arrived?: number;
}

/** Each socket sends one data-sync and waits for the reply, as an SDK does, then idles. */
async function openClients(url: () => string, n: number, handshake: boolean): Promise<Client[]> {
  const clients: Client[] = [];
  const batch = 250;
  for (let i = 0; i < n; i += batch) {
    const opened = Array.from({ length: Math.min(batch, n - i) }, async (_, k) => {
      const socket = new WebSocket(url(), { perMessageDeflate: false });
      const client: Client = { socket };
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.once('open', () => {
          if (!handshake) return resolve();
          // A real SDK asks for its data first and then idles.
          socket.once('message', () => resolve());
          socket.send(firstSync(i + k));
        });
      });
      socket.on('message', () => {
        client.arrived ??= performance.now();
      });
      clients.push(client);
    });
    await Promise.all(opened);
  }
  return clients;
}

async function waitAll(clients: Client[], timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (clients.some((c) => c.arrived === undefined)) {
    if (Date.now() - start > timeoutMs) throw new Error(`${clients.filter((c) => c.arrived === undefined).length} sockets got nothing`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function summary(label: string, n: number, before: { rss: number; heap: number }, after: { rss: number; heap: number }, clients: Client[], t0: number): string {
  const times = clients.map((c) => (c.arrived ?? Number.NaN) - t0).sort((a, b) => a - b);
  return (
    `${label.padEnd(6)} N=${String(n).padStart(6)}  RSS/socket ${((after.rss - before.rss) / n / 1024).toFixed(2)} KiB (JS heap ${((after.heap - before.heap) / n / 1024).toFixed(2)} KiB)  ` +
    `arrival p50 ${percentile(times, 50).toFixed(1)} ms  p99 ${percentile(times, 99).toFixed(1)} ms  max ${percentile(times, 100).toFixed(1)} ms`
  );
}

async function close(clients: Client[]): Promise<void> {
  for (const c of clients) c.socket.terminate();
  await new Promise((resolve) => setTimeout(resolve, 500));
}

async function runAgent(agent: ServerChild, n: number, body: string, version: number): Promise<string> {
  const before = await agent.rss();
  const clients = await openClients(() => `ws://127.0.0.1:${agent.port}/streaming?type=${values.type}&token=${tokenFor(SECRET)}`, n, true);
  const after = await agent.rss();
  for (const c of clients) delete c.arrived;
  const changed = body.replace('"isEnabled":false', '"isEnabled":true').replace(/2026-01-01T00:00:00.000Z/g, new Date(version).toISOString());
  // An HTTP request sent while the change fans out shows whether chunking lets HTTP through.
  const t0 = performance.now();
  const posted = fetch(`http://127.0.0.1:${agent.port}/api/public/proxy/bootstrap`, {
    method: 'POST',
    headers: { authorization: RELAY_PROXY_KEY, 'content-type': 'application/json' },
    body: changed,
  });
  const probe = (async () => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    const s = performance.now();
    await fetch(`http://127.0.0.1:${agent.port}/health/liveness`);
    return performance.now() - s;
  })();
  const response = await posted;
  if (response.status !== 200) throw new Error(`bootstrap answered ${response.status}`);
  await waitAll(clients, 30_000);
  const probeMs = await probe;
  const fanOut = await agent.ask<Record<string, { sockets: number; ms: number }>>({ cmd: 'fan-out' });
  const inside = fanOut[values.type];
  const line =
    `${summary('agent', n, before, after, clients, t0)}  (agent-side fan-out ${inside?.ms.toFixed(1) ?? '?'} ms for ${inside?.sockets ?? '?'} sockets; ` +
    `HTTP during fan-out ${probeMs.toFixed(1)} ms)`;
  await close(clients);
  return line;
}

async function runBare(bare: ServerChild, n: number, payload: string): Promise<string> {
  const before = await bare.rss();
  const clients = await openClients(() => `ws://127.0.0.1:${bare.port}/`, n, true);
  const after = await bare.rss();
  const t0 = performance.now();
  bare.send({ cmd: 'broadcast', data: payload });
  await waitAll(clients, 30_000);
  const line = summary('ws', n, before, after, clients, t0);
  await close(clients);
  return line;
}

async function main(): Promise<void> {
  const agent = await startServerChild('agent', SAMPLE_DATA_FILE);
  const bare = await startServerChild('bare-ws');
  const payload = clientMode
    ? await (await fetch(`http://127.0.0.1:${agent.port}/api/public/sdk/client/latest-all`, { method: 'POST', headers: { authorization: CLIENT_SECRET, 'content-type': 'application/json' }, body: JSON.stringify({ keyId: 'bench-user-1', name: 'x' }) })).text()
    : await (await fetch(`http://127.0.0.1:${agent.port}/api/public/sdk/server/latest-all`, { headers: { authorization: SERVER_SECRET } })).text();
  const body = JSON.stringify(sampleBootstrap());
  console.log(`streaming (${values.type} SDKs): full payload ${(payload.length / 1024).toFixed(1)} KiB per socket${clientMode ? ', evaluated per user' : ''}`);
  let version = Date.parse('2026-06-01T00:00:00Z');
  for (const n of sizes) {
    console.log(await runBare(bare, n, payload));
    console.log(await runAgent(agent, n, body, (version += 1000)));
  }
  await agent.stop();
  await bare.stop();
}

await main();
