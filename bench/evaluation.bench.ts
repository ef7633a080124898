/**
 * Flag evaluations per second for one user against 100 and 1,000 flags (two rules each, about
 * four conditions, a third of them with a segment rule), on one core, plus the rate of building
 * the client payload for the same user. Target: ≥ 1,000,000 evaluations per second.
 * Run pinned to one core (`npm run bench` does: `taskset -c 0`).
 * Usage: node .test-build/bench/evaluation.bench.js [--seconds 2] [--short]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { EvaluationIndex } from '../src/evaluation/evaluation-index.js';
import { prepareUser } from '../src/evaluation/end-user.js';
import { evaluateFlag } from '../src/evaluation/evaluator.js';
import { benchFlag, SEGMENT_ID } from './support/bench-data.js';

const segment = {
  json: { id: SEGMENT_ID, included: ['u-7'], excluded: ['u-9'], rules: [{ conditions: [{ property: 'email', op: 'EndsWith', value: '@example.com' }] }] },
  timestamp: 1,
};
const users = [
  { keyId: 'u-1001', name: 'Ann', customizedProperties: [{ name: 'country', value: 'us' }, { name: 'age', value: '30' }, { name: 'email', value: 'ann@example.com' }, { name: 'plan', value: 'pro' }] },
  { keyId: 'u-2002', name: 'Eve', customizedProperties: [{ name: 'country', value: 'fr' }, { name: 'age', value: '17' }, { name: 'email', value: 'eve@mail.org' }, { name: 'plan', value: 'free' }] },
];

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' }, short: { type: 'boolean', default: false } } });
const seconds = values.short ? 0.5 : Number(values.seconds);

function measure(seconds: number, body: () => number): number {
  let operations = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  while (performance.now() < end) operations += body();
  return operations / ((performance.now() - start) / 1000);
}

for (const size of [100, 1000]) {
  const index = new EvaluationIndex(
    Array.from({ length: size }, (_, i) => ({ json: benchFlag(i), timestamp: 1 })),
    [segment],
  );
  for (const raw of users) {
    const user = prepareUser(raw);
    const flags = index.flags;
    measure(0.5, () => flags.length); // warm-up
    const evals = measure(seconds, () => {
      const ctx = index.context();
      for (const flag of flags) evaluateFlag(flag, user, ctx);
      return flags.length;
    });
    const entries = measure(seconds, () => {
      index.entries(flags, user);
      return flags.length;
    });
    console.log(
      `${String(size).padStart(5)} flags, user ${raw.keyId}: ${(evals / 1e6).toFixed(2)} M evaluations/s; ` +
        `${(entries / 1e6).toFixed(2)} M payload entries/s (evaluate + serialise)`,
    );
  }
}
console.log('target: ≥ 1,000,000 evaluations per second on one core');
