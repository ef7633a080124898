/**
 * Sockets up to the descriptor limit: one agent process (pinned to core 0) holds N idle server SDK
 * sockets (19,000 by default; the limit here is 20,000 descriptors per process, so the clients are
 * spread over receiver processes on core 1), its RSS per socket is measured after a GC, and a
 * one-flag patch and the full payload are fanned out to all of them.
 * Target: ≤ 6 KiB RSS per socket.
 * Usage: node .test-build/bench/sockets.bench.js [--n 19000] [--receivers 4] [--rounds 3] [--short]
 */
import { parseArgs } from 'node:util';
import { startServerChild } from './support/child.js';
import { Receivers, fanOutRound, formatRound, type RoundResult } from './support/fan-out.js';
import { loadAverage, median } from './support/pinned.js';
import { SAMPLE_DATA_FILE, SERVER_SECRET } from '../test/support/sample-data.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '19000' },
    receivers: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
    short: { type: 'boolean', default: false },
  },
});
const n = values.short ? Math.min(4000, Number(values.n)) : Number(values.n);
const rounds = values.short ? 2 : Number(values.rounds);

const agent = await startServerChild('agent', SAMPLE_DATA_FILE);
const receivers = await Receivers.start(Number(values.receivers));
console.log(`sockets at the descriptor limit: ${n} idle server sockets on one agent process (core 0), over ${receivers.count} receiver processes (core 1); load ${loadAverage()}`);
const before = await agent.rss();
const ms = await receivers.open('idle', agent.port, '/streaming?type=server&token={token}', SERVER_SECRET, n, 'server');
const after = await agent.rss();
console.log(
  `  ${n} sockets open (each answered its data-sync) in ${(ms / 1000).toFixed(1)} s; agent RSS ${(before.rss / 2 ** 20).toFixed(1)} → ${(after.rss / 2 ** 20).toFixed(1)} MiB: ` +
    `${((after.rss - before.rss) / n / 1024).toFixed(2)} KiB RSS per socket (JS heap+external ${((after.heap - before.heap) / n / 1024).toFixed(2)} KiB)  (target ≤ 6 KiB)`,
);
for (const [title, trigger] of [
  ['one-flag patch', { cmd: 'patch', flagKey: 'dark-mode' }],
  ['full payload', { cmd: 'full' }],
] as const) {
  await fanOutRound(agent, receivers, 'idle', trigger); // warm-up
  const results: RoundResult[] = [];
  for (let i = 0; i < rounds; i++) {
    const r = await fanOutRound(agent, receivers, 'idle', trigger);
    results.push(r);
    console.log(`  ${title}, round ${i + 1} (load ${r.load}): ${formatRound('agent', r)}  [agent-side fan-out ${r.inside?.ms.toFixed(1) ?? '?'} ms]`);
  }
  console.log(
    `  ${title} to ${n} sockets: median p50 ${median(results.map((r) => r.p50)).toFixed(1)} ms  p99 ${median(results.map((r) => r.p99)).toFixed(1)} ms  ` +
      `last socket ${median(results.map((r) => r.max)).toFixed(1)} ms`,
  );
}
const held = await agent.rss();
console.log(`  after the fan-outs: ${((held.rss - before.rss) / n / 1024).toFixed(2)} KiB RSS per socket`);
await receivers.close('idle');
receivers.stop();
await agent.stop();
process.exit(0);
