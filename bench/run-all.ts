/**
 * Runs every benchmark in turn, each in its own process (which pins its servers to core 0 and its
 * load to core 1); each prints its own figures. Prints the machine, the commit and the load first.
 * Usage: node .test-build/bench/run-all.js [name-filter] [--short]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVER_CORE, canPin, loadAverage } from './support/pinned.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const short = args.includes('--short');
const only = args.find((a) => !a.startsWith('--'));

function commit(): string {
  try {
    const hash = execFileSync('git', ['rev-parse', '--short=10', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return `${hash}${dirty ? ' (with uncommitted changes)' : ''}`;
  } catch {
    return 'unknown';
  }
}

const model = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
console.log(`machine: ${availableParallelism()} cores (${model}), node ${process.version}, commit ${commit()}, load ${loadAverage()}${canPin() ? '' : ', NOT pinned'}`);

// Order: the in-process and light ones first, then HTTP, then the socket-heavy ones.
const order = ['evaluation', 'polling', 'client-polling', 'ofrep', 'streaming', 'sockets', 'cluster', 'insights'];
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .sort((a, b) => (order.indexOf(a.replace('.bench.js', '')) + 1 || 99) - (order.indexOf(b.replace('.bench.js', '')) + 1 || 99));
for (const file of files) {
  if (only && !file.includes(only)) continue;
  console.log(`\n== ${file}${short ? ' --short' : ''}  (${new Date().toISOString()}, load ${loadAverage()})`);
  const node = [process.execPath, '--expose-gc', join(here, file), ...(short ? ['--short'] : [])];
  // The evaluator runs in this process: pin it to the server core.
  const command = file === 'evaluation.bench.js' && canPin() ? ['taskset', '-c', String(SERVER_CORE), ...node] : node;
  const result = spawnSync(command[0]!, command.slice(1), { stdio: 'inherit' });
  if (result.status !== 0) {
    console.log(`${file} FAILED (exit ${result.status ?? result.signal})`);
    process.exitCode = 1;
  }
}
