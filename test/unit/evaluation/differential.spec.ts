import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { EvaluationIndex } from '../../../src/evaluation/evaluation-index.js';
import { prepareUser } from '../../../src/evaluation/end-user.js';
import { generate } from '../../support/random-data.js';

/** The node server SDK's own evaluator (a default export its index does not re-export). */
interface NodeEvaluator {
  evaluate(flagKey: string, context: unknown): [{ kind: string; value: string; reason: string }, { sendToExperiment: boolean } | null];
}
const require = createRequire(import.meta.url);
const { default: Evaluator } = require('@featbit/node-server-sdk/dist/cjs/evaluation/Evaluator.js') as { default: new (platform: unknown, store: unknown) => NodeEvaluator };
const { default: Context } = require('@featbit/node-server-sdk/dist/cjs/Context.js') as { default: { fromUser(user: unknown): unknown } };
const { default: NodeCrypto } = require('@featbit/node-server-sdk/dist/cjs/platform/node/NodeCrypto.js') as { default: new () => unknown };

const KINDS: Record<string, string> = { Off: 'flag disabled', TargetMatch: 'targeted', FallThrough: 'default' };

describe('differential test against the node server SDK evaluator', () => {
  it('agrees on variation, path and sendToExperiment for thousands of generated cases', () => {
    let compared = 0;
    const paths = new Map<string, number>();
    let experiments = 0;
    for (const seed of [11, 23, 37, 41, 59]) {
      const data = generate(seed);
      const flags = new Map(data.flags.map((f) => [f['key'] as string, f]));
      const segments = new Map(data.segments.map((s) => [s.id, s]));
      const store = { get: (kind: { namespace: string }, key: string) => (kind.namespace === 'flags' ? flags.get(key) : segments.get(key)) };
      const node = new Evaluator({ crypto: new NodeCrypto() }, store);
      const index = new EvaluationIndex(data.flags.map((json) => ({ json, timestamp: 1 })), data.segments.map((json) => ({ json, timestamp: 1 })));
      for (const user of data.users) {
        const prepared = prepareUser(user);
        const context = Context.fromUser({ key: user.keyId, name: user.name, customizedProperties: user.customizedProperties });
        for (const flag of index.flags) {
          const ours = index.evaluate(flag, prepared);
          const [theirs, event] = node.evaluate(flag.key, context);
          const where = `seed ${compared} ${flag.key} ${user.keyId}`;
          assert.equal(ours.variation?.value, theirs.value, `${where}: variation`);
          const reason = KINDS[theirs.kind] ?? theirs.reason.replace(/^match rule /, '');
          assert.equal(ours.matchReason, reason, `${where}: path`);
          assert.equal(ours.sendToExperiment, event?.sendToExperiment ?? false, `${where}: sendToExperiment`);
          compared++;
          const path = ours.matchReason.startsWith('rule') ? 'rule' : ours.matchReason;
          paths.set(path, (paths.get(path) ?? 0) + 1);
          if (ours.sendToExperiment) experiments++;
        }
      }
    }
    assert.ok(compared >= 15_000, `compared ${compared}`);
    // Every path is exercised in quantity, not just the default rule.
    for (const path of ['flag disabled', 'targeted', 'rule', 'default']) {
      assert.ok((paths.get(path) ?? 0) > 500, `${path}: ${paths.get(path) ?? 0} of ${compared} (${JSON.stringify([...paths])})`);
    }
    assert.ok(experiments > 1000 && experiments < compared - 1000, `sendToExperiment true in ${experiments} of ${compared}`);
  });
});
