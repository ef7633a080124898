/**
 * Instructions per request of server latest-all, counted by valgrind (callgrind), for comparing
 * changes on a machine others share: unlike req/s or CPU time, the count does not move with the
 * load around it (perf's counters are not available in this container). Each server runs under
 * `valgrind --tool=callgrind --instr-atstart=no`: it starts and is warmed up uninstrumented, then
 * `callgrind_control -i on` counts exactly `--requests` keep-alive requests (`--connections` at a
 * time, from this process) and `callgrind_control -d` dumps the totals, per thread. User-space
 * instructions (JIT code, V8, libuv, GC); the kernel's share (the socket writes) is not counted, so
 * the ratios here are stricter than CPU time or req/s ones. All threads and the main thread apart:
 * V8's background threads are still compiling (TurboFan) long after the warm-up, an amount that
 * varies from start to start; the main thread is the work per request.
 * Bimodal: in some processes V8 leaves the object literal in node's `process.nextTick` (computed
 * symbol keys) on its generic path, `Runtime_DefineKeyedOwnPropertyInLiteral`, about 4k instructions
 * per tick object and a few tick objects per request; which process does so varies from start to
 * start (seen in both Nest apps, not in bare node). The figures are printed with and without it.
 * Targets: bare node:http, the one-route Nest + fastify ceiling and the agent, each serving the
 * same bytes; `--baseline DIR` adds the agent of another build (DIR is its `.test-build`, e.g. a copy
 * made before a change). The servers run at the same time (instruction counts do not mind).
 * Slow: about five minutes. Needs valgrind (Debian's package).
 * Usage: node .test-build/bench/support/instructions-per-request.js [--requests 4000] [--warmup 10000]
 *        [--connections 10] [--flags 8] [--baseline DIR]... [--node-flag=--perf-basic-prof]...
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { SERVER_SECRET } from '../../test/support/sample-data.js';
import { benchDataFile } from './bench-data.js';
import { startServerChild } from './child.js';
import { loadAverage } from './pinned.js';

const here = dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '4000' },
    warmup: { type: 'string', default: '10000' },
    connections: { type: 'string', default: '10' },
    flags: { type: 'string', default: '8' },
    baseline: { type: 'string', multiple: true, default: [] },
    // e.g. --node-flag=--perf-basic-prof --node-flag=--interpreted-frames-native-stack, to name JIT code in the dumps.
    'node-flag': { type: 'string', multiple: true, default: [] },
  },
});
const requests = Number(values.requests);
const warmup = Number(values.warmup);
const connections = Number(values.connections);
const path = '/api/public/sdk/server/latest-all';
const headers = { authorization: SERVER_SECRET };

const { dir, file: dataFile } = benchDataFile(Number(values.flags), 'instructions');

interface Server {
  name: string;
  child: ChildProcess;
  port: number;
  agent: Agent;
}

/** server-process.js (of this build or `build`) under callgrind, instrumentation off. */
async function startServer(name: string, args: string[], build?: string): Promise<Server> {
  const script = build === undefined ? join(here, 'server-process.js') : join(resolve(build), 'bench/support/server-process.js');
  const child = spawn(
    'valgrind',
    ['--tool=callgrind', '--instr-atstart=no', '--separate-threads=yes', `--callgrind-out-file=${join(dir, 'callgrind.%p')}`, process.execPath, '--expose-gc', ...values['node-flag'], script, ...args],
    { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const { port } = await new Promise<{ port: number }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { port: number }));
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}:\n${stderr}`)));
    child.once('error', reject);
  });
  return { name, child, port, agent: new Agent({ keepAlive: true, maxSockets: connections }) };
}

/** One GET; a keep-alive socket the server closed meanwhile (ECONNRESET before any answer) is retried once. */
async function get(server: Server): Promise<{ status: number; body: Buffer }> {
  try {
    return await getOnce(server);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') throw error;
    return getOnce(server);
  }
}

function getOnce(server: Server): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port: server.port, path, headers, agent: server.agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    })
      .on('error', reject)
      .end();
  });
}

/** Exactly `n` requests, `connections` at a time; every answer must be `bytes`. */
async function load(server: Server, n: number, bytes: Buffer): Promise<void> {
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (sent < n) {
      sent++;
      const r = await get(server);
      if (r.status !== 200 || !r.body.equals(bytes)) throw new Error(`${server.name} answered ${r.status} with ${r.body.length} bytes`);
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
}

/** Warm-up uninstrumented, then instructions over exactly `requests` requests. */
interface Count {
  /** Instructions per request, all threads. */
  total: number;
  /** Of which the main thread (JavaScript, the event loop, the scavenger's main part). */
  main: number;
  /** Of which node's nextTick slow path (main thread). */
  slowTicks: number;
  /**
   * Of which the GC's main-thread part: a scavenge every few thousand requests, so a window of a
   * few thousand requests holds zero to two of them (a few k instructions per request either way).
   */
  gc: number;
}

async function count(server: Server, bytes: Buffer): Promise<Count> {
  await load(server, warmup, bytes);
  const pid = String(server.child.pid);
  await run('callgrind_control', ['-i', 'on', pid]);
  await load(server, requests, bytes);
  await run('callgrind_control', ['-d', pid]);
  server.child.kill('SIGKILL');
  server.agent.destroy();
  // One dump per thread (callgrind.PID.1-01 is the main thread): V8's background threads compile
  // (TurboFan, still busy after the warm-up) and help the GC.
  const dumps = readdirSync(dir).filter((f) => f.startsWith(`callgrind.${pid}.`)).sort();
  if (dumps.length === 0) throw new Error(`no callgrind dump for ${server.name}`);
  let total = 0;
  let main = 0;
  let slowTicks = 0;
  let gc = 0;
  for (const dump of dumps) {
    const totals = /^totals:\s+(\d+)/m.exec(readFileSync(join(dir, dump), 'utf8'));
    if (!totals) continue;
    total += Number(totals[1]);
    if (dump.endsWith('-01')) {
      main = Number(totals[1]);
      const { stdout } = await run('callgrind_annotate', ['--inclusive=yes', '--threshold=100', join(dir, dump)], { maxBuffer: 1 << 26 });
      const inclusive = (fn: string): number => {
        const line = new RegExp(`^\\s*([\\d,]+) .*${fn}`, 'm').exec(stdout);
        return line ? Number(line[1]!.replaceAll(',', '')) : 0;
      };
      slowTicks = inclusive('Runtime_DefineKeyedOwnPropertyInLiteral');
      gc = inclusive('v8::internal::Heap::CollectGarbage\\(');
    }
  }
  return { total: total / requests, main: main / requests, slowTicks: slowTicks / requests, gc: gc / requests };
}

console.log(`instructions per request (callgrind), GET ${path}: ${requests} requests after ${warmup} uninstrumented, ${connections} keep-alive connections (load ${loadAverage()})`);
// The answer under test, from an agent outside valgrind (quick), so that every measured server
// then starts the same way, at the same time, and waits the same before its warm-up.
const probe = await startServerChild('agent', dataFile);
const answer = await fetch(`http://127.0.0.1:${probe.port}${path}`, { headers });
if (answer.status !== 200) throw new Error(`agent answered ${answer.status}`);
const bytes = Buffer.from(await answer.arrayBuffer());
await probe.stop();
const bodyFile = join(dir, 'body.json');
writeFileSync(bodyFile, bytes);
const servers = await Promise.all([
  startServer('bare node:http', ['bare-http', bodyFile]),
  startServer('Nest+fastify ceiling', ['nest-ceiling', bodyFile, 'GET', path]),
  startServer('agent', ['agent', dataFile]),
  ...values.baseline.map((build) => startServer(`agent ${build}`, ['agent', dataFile], build)),
]);
const counts = await Promise.all(servers.map((s) => count(s, bytes)));
const k = (n: number): string => `${(n / 1000).toFixed(1).padStart(6)}k`;
console.log(`  ${bytes.length} bytes per answer; callgrind dumps in ${dir}`);
for (const [label, pick] of [
  ['all threads', (c: Count) => c.total],
  ['main thread', (c: Count) => c.main],
  ['main thread without the nextTick slow path', (c: Count) => c.main - c.slowTicks],
  ['main thread without the nextTick slow path and the GC', (c: Count) => c.main - c.slowTicks - c.gc],
] as const) {
  const [bare, ceiling] = [pick(counts[0]!), pick(counts[1]!)];
  console.log(`  instructions/request, ${label}:`);
  servers.forEach((s, i) => {
    const n = pick(counts[i]!);
    const slow = label === 'main thread' ? `  (of which nextTick slow path ${k(counts[i]!.slowTicks)}, GC ${k(counts[i]!.gc)})` : '';
    console.log(`    ${s.name.padEnd(28)} ${k(n)}  bare ÷ this ${(bare / n).toFixed(3)}, ceiling ÷ this ${(ceiling / n).toFixed(3)}${slow}`);
  });
}
