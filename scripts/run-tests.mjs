// Runs the compiled test files with node's test runner.
// Usage: node scripts/run-tests.mjs [unit|e2e|integration|chaos|deploy ...] [--filter substring]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = '.test-build/test';
const args = process.argv.slice(2);
const filterAt = args.indexOf('--filter');
const filter = filterAt >= 0 ? args.splice(filterAt, 2)[1] : undefined;
const suites = args.length > 0 ? args : ['unit', 'integration', 'e2e', 'chaos', 'deploy'];
const pattern = /\.(spec|e2e-spec|int-spec)\.js$/;

function walk(dir) {
  let out = [];
  let entries;
  try { entries = readdirSync(dir); } catch { return out; }
  for (const name of entries.sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(walk(path));
    else if (pattern.test(name) && (!filter || path.includes(filter))) out.push(path);
  }
  return out;
}

const files = suites.flatMap((suite) => walk(join(root, suite)));
if (files.length === 0) {
  console.error(`no test files found under ${root} for ${suites.join(', ')}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--enable-source-maps', '--test', '--test-force-exit', `--test-timeout=${process.env.TEST_TIMEOUT_MS ?? 120000}`, '--test-reporter=spec', `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`, ...files],
  { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
);
process.exit(result.status ?? 1);
