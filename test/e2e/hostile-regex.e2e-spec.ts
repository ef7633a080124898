import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentProcess } from '../support/agent-process.js';
import { postBootstrap } from '../support/agent-app.js';
import { CLIENT_SECRET, SAMPLE_DATA_FILE, sampleBootstrap, type BootstrapBody } from '../support/sample-data.js';

/**
 * Issue 11: one flag rule `email MatchRegex "^(a+)+$"` and one client `latest-all` with
 * `email = "a"×34 + "!"` pinned the event loop for minutes on a backtracking engine. The agent runs
 * in its own process, so a pinned loop there cannot stall this test's own timers.
 */
const PATTERN = '^(a+)+$';
const HOSTILE_EMAIL = `${'a'.repeat(34)}!`;
/** How long an answer may take before the test calls the agent frozen (not a performance bound). */
const FROZEN_MS = Number(process.env['HOSTILE_REGEX_TIMEOUT_MS'] ?? 10_000);

function withRegexFlag(lookaheadUpdatedAt = '2026-02-01T00:00:00.000Z'): BootstrapBody {
  const body = sampleBootstrap();
  const env = body.items[0]!;
  env.featureFlags.push({
    ...structuredClone(env.featureFlags.find((f) => f['key'] === 'new-checkout')!),
    id: 'a0000000-0000-4000-8000-0000000000fd',
    key: 'lookahead',
    targetUsers: [],
    rules: [{ id: 'a0000000-0000-4000-8000-0000000000fc', name: 'has at', dispatchKey: null, includedInExpt: false, conditions: [{ property: 'email', op: 'MatchRegex', value: '^(?=.*@)a' }], variations: [] }],
    updatedAt: lookaheadUpdatedAt,
  });
  const on = { id: 'a0000000-0000-4000-8000-000000000001', name: 'On', value: 'true' };
  const off = { id: 'a0000000-0000-4000-8000-000000000002', name: 'Off', value: 'false' };
  env.featureFlags.push({
    id: 'a0000000-0000-4000-8000-0000000000ff',
    envId: env.envId,
    name: 'Only a',
    key: 'only-a',
    variationType: 'boolean',
    variations: [on, off],
    targetUsers: [],
    rules: [
      {
        id: 'a0000000-0000-4000-8000-0000000000fe',
        name: 'all a',
        dispatchKey: null,
        includedInExpt: false,
        conditions: [{ property: 'email', op: 'MatchRegex', value: PATTERN }],
        variations: [{ id: on.id, rollout: [0, 1], exptRollout: 1 }],
      },
    ],
    isEnabled: true,
    disabledVariationId: off.id,
    fallthrough: { dispatchKey: null, includedInExpt: false, variations: [{ id: off.id, rollout: [0, 1], exptRollout: 1 }] },
    exptIncludeAllTargets: false,
    tags: [],
    updatedAt: '2026-02-01T00:00:00.000Z',
    isArchived: false,
  });
  return body;
}

interface Entry {
  id: string;
  variation: string;
  matchReason: string;
}

describe('hostile regular expressions (issue 11)', () => {
  let agent: AgentProcess;
  before(async () => {
    agent = await AgentProcess.start({ MODE: 'offline', DATA_FILE: SAMPLE_DATA_FILE });
    const response = await postBootstrap(agent.httpUrl, withRegexFlag());
    assert.equal(response.status, 200, await response.text());
  });
  after(() => agent.kill());

  const latestAll = (email: string) =>
    fetch(`${agent.httpUrl}/api/public/sdk/client/latest-all`, {
      method: 'POST',
      headers: { authorization: CLIENT_SECRET, 'content-type': 'application/json' },
      body: JSON.stringify({ keyId: 'attacker', name: 'A', customizedProperties: [{ name: 'email', value: email }] }),
      signal: AbortSignal.timeout(FROZEN_MS),
    });

  const onlyA = async (response: Response): Promise<Entry> => {
    assert.equal(response.status, 200);
    const body = (await response.json()) as { data: { featureFlags: Entry[] } };
    return body.data.featureFlags.find((f) => f.id === 'only-a')!;
  };

  it('answers a client latest-all whose user makes `^(a+)+$` backtrack, and stays alive meanwhile', async () => {
    const attack = latestAll(HOSTILE_EMAIL);
    // Liveness asked while the attack is in flight, and after it.
    const alive = fetch(`${agent.httpUrl}/health/liveness`, { signal: AbortSignal.timeout(FROZEN_MS) });
    const [attacked, live] = await Promise.all([attack, alive]);
    assert.equal(live.status, 200);
    const entry = await onlyA(attacked);
    assert.deepEqual([entry.variation, entry.matchReason], ['false', 'default']);
    const again = await fetch(`${agent.httpUrl}/health/liveness`, { signal: AbortSignal.timeout(FROZEN_MS) });
    assert.equal(again.status, 200);
  });

  it('many such requests at once are all answered', async () => {
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => latestAll(`${'a'.repeat(4000 + i)}!`)));
    for (const response of responses) assert.deepEqual((await onlyA(response)).variation, 'false');
  });

  it('a pattern RE2 cannot run is false, logged once for its flag across evaluations and data changes, and counted', async () => {
    for (let i = 0; i < 3; i++) {
      const response = await latestAll('ann@example.com');
      assert.equal(response.status, 200);
      const body = (await response.json()) as { data: { featureFlags: Entry[] } };
      assert.equal(body.data.featureFlags.find((f) => f.id === 'lookahead')!.matchReason, 'default');
      // A data change recompiles the environment's flags.
      assert.equal((await postBootstrap(agent.httpUrl, withRegexFlag(`2026-02-0${i + 2}T00:00:00.000Z`))).status, 200);
    }
    await agent.until(async () => agent.logs.includes('in flag lookahead'));
    const metric = /featbit_agent_regex_unsupported_total\{reason="lookaround"\} (\d+)/.exec(await (await fetch(`${agent.httpUrl}/metrics`)).text());
    assert.ok(metric && Number(metric[1]) >= 3, `metric: ${metric?.[0] ?? 'absent'}`);
    assert.equal(agent.logs.split('in flag lookahead').length - 1, 1, agent.logs);
  });

  it('the rule still matches the users it was written for', async () => {
    const entry = await onlyA(await latestAll('a'.repeat(34)));
    assert.deepEqual([entry.variation, entry.matchReason], ['true', 'all a']);
  });
});
