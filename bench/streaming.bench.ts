/**
 * Fan-out to WebSocket SDKs, measured with the multi-process harness (support/fan-out.ts): the
 * agent and a plain `ws` server each in a process pinned to core 0, the SDK sockets held by
 * receiver processes (4 by default) pinned to core 1, every arrival timed on the system-wide
 * monotonic clock from the moment the server started the send.
 *  - server SDKs: a one-flag patch, and the full payload (a bootstrap's push), to N sockets;
 *    plain `ws` broadcasts the very frame the agent sent. Target at 10,000: agent ≤ 1.1× ws.
 *  - client SDKs, each with its own user: a one-flag patch evaluated per user; plain `ws`
 *    broadcasts one user's frame to all. Target at 10,000: p99 ≤ 300 ms.
 * Also prints the RSS per idle socket of each server.
 * Usage: node .test-build/bench/streaming.bench.js [--n 10000] [--receivers 4] [--rounds 5] [--type server,client] [--short]
 */
import { parseArgs } from 'node:util';
import { startServerChild, type ServerChild } from './support/child.js';
import { Receivers, runScenario } from './support/fan-out.js';
import { loadAverage } from './support/pinned.js';
import { CLIENT_SECRET, SAMPLE_DATA_FILE, SERVER_SECRET } from '../test/support/sample-data.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10000' },
    receivers: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '5' },
    type: { type: 'string', default: 'server,client' },
    short: { type: 'boolean', default: false },
  },
});
const n = values.short ? Math.min(2000, Number(values.n)) : Number(values.n);
const rounds = values.short ? 3 : Number(values.rounds);
const types = values.type.split(',');

async function open(
  label: string,
  server: ServerChild,
  receivers: Receivers,
  group: string,
  path: string,
  secret: string,
  sync: 'server' | 'client',
): Promise<void> {
  const before = await server.rss();
  const ms = await receivers.open(group, server.port, path, secret, n, sync);
  const after = await server.rss();
  console.log(
    `  ${label.padEnd(9)} ${n} ${sync} sockets open in ${(ms / 1000).toFixed(1)} s; RSS per socket ${((after.rss - before.rss) / n / 1024).toFixed(2)} KiB ` +
      `(JS ${((after.heap - before.heap) / n / 1024).toFixed(2)} KiB)`,
  );
}

// Each phase starts fresh servers, so RSS per socket is not skewed by memory the last phase freed.
let agent = await startServerChild('agent', SAMPLE_DATA_FILE);
let ws = await startServerChild('bare-ws');
const receivers = await Receivers.start(Number(values.receivers));
console.log(`fan-out: ${n} sockets per server over ${receivers.count} receiver processes on core 1; servers on core 0; load ${loadAverage()}`);

if (types.includes('server')) {
  console.log(`server SDKs (data-sync answered, then idle):`);
  await open('plain ws', ws, receivers, 'ws', '/', SERVER_SECRET, 'server');
  await open('agent', agent, receivers, 'agent', '/streaming?type=server&token={token}', SERVER_SECRET, 'server');
  const common = { agent, ws, receivers, agentGroup: 'agent', wsGroup: 'ws', rounds, maxRatio: 1.1, type: 'server' as const };
  await runScenario({ ...common, title: `server, one-flag patch, ${n} sockets`, trigger: { cmd: 'patch', flagKey: 'dark-mode' } });
  await runScenario({ ...common, title: `server, full payload, ${n} sockets`, trigger: { cmd: 'full' } });
  await receivers.close('ws');
  await receivers.close('agent');
}

if (types.includes('client')) {
  if (types.includes('server')) {
    await agent.stop();
    await ws.stop();
    agent = await startServerChild('agent', SAMPLE_DATA_FILE);
    ws = await startServerChild('bare-ws');
  }
  console.log(`client SDKs (each with its own user; data-sync answered, then idle):`);
  await open('plain ws', ws, receivers, 'ws-client', '/', CLIENT_SECRET, 'client');
  await open('agent', agent, receivers, 'agent-client', '/streaming?type=client&token={token}', CLIENT_SECRET, 'client');
  await runScenario({
    agent,
    ws,
    receivers,
    agentGroup: 'agent-client',
    wsGroup: 'ws-client',
    type: 'client',
    rounds,
    maxP99: 300,
    title: `client, one-flag patch evaluated per user, ${n} sockets (ws sends socket 0's frame to all)`,
    trigger: { cmd: 'patch', flagKey: 'dark-mode' },
  });
  await receivers.close('ws-client');
  await receivers.close('agent-client');
}

receivers.stop();
await agent.stop();
await ws.stop();
process.exit(0);
