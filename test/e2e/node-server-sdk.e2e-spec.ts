import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FbClientBuilder, UserBuilder, type IFbClient, type IUser } from '@featbit/node-server-sdk';
import { startAgent, type RunningAgent, postBootstrap } from '../support/agent-app.js';
import { SERVER_SECRET, exampleExpectations, sampleBootstrap } from '../support/sample-data.js';

/**
 * evaluation.md §11: node SDK 1.3.0 throws on these (a segment's EndsWith on a missing `email`), so
 * it answers the caller's default instead of the ELS value. The agent serves the data correctly;
 * the SDK's own evaluator is at fault. They are checked to fail in exactly that way.
 */
const NODE_SDK_BUGS = new Set(['banner-color/u-0001', 'banner-color/u-2001', 'banner-color/u-2002', 'banner-color/u-3001']);

function toUser(user: { keyId: string; name?: string; customizedProperties?: { name: string; value: string }[] }): IUser {
  const builder = new UserBuilder(user.keyId).name(user.name ?? '');
  for (const property of user.customizedProperties ?? []) builder.custom(property.name, property.value);
  return builder.build();
}

describe('@featbit/node-server-sdk against the agent', () => {
  let agent: RunningAgent;
  let client: IFbClient;

  before(async () => {
    agent = await startAgent();
    client = new FbClientBuilder()
      .sdkKey(SERVER_SECRET)
      .streamingUri(agent.wsUrl)
      .eventsUri(agent.httpUrl)
      .logLevel('none')
      .build();
    await client.waitForInitialization();
  });

  after(async () => {
    await client.close();
    await agent.close();
  });

  it('becomes ready on the sample data', () => {
    assert.equal(client.initialized(), true);
  });

  it('evaluates the example users as FeatBit does', async () => {
    for (const c of exampleExpectations().cases) {
      const user = toUser(c.user);
      const name = `${c.flagKey}/${c.user.keyId}`;
      const evaluate = async (): Promise<{ value?: unknown }> =>
        c.flagKey === 'banner-color'
          ? client.stringVariationDetail(c.flagKey, user, 'sdk-default')
          : client.boolVariationDetail(c.flagKey, user, c.variation !== 'true');
      if (NODE_SDK_BUGS.has(name)) {
        // It throws "Cannot read properties of undefined (reading 'endsWith')" or answers the default.
        const outcome = await evaluate().then(
          (d) => String(d.value),
          () => 'threw',
        );
        assert.ok(outcome === 'threw' || outcome === 'sdk-default', `${name}: expected the node SDK's documented failure, got ${outcome}`);
        continue;
      }
      const detail = await evaluate();
      // The SDK words its reasons its own way ("target match"); the served variation is what counts.
      assert.equal(String(detail.value), c.variation, name);
    }
  });

  it('sees a flag changed by a bootstrap within seconds', async () => {
    const user = toUser({ keyId: 'u-1001' });
    assert.equal(await client.boolVariation('dark-mode', user, true), false);
    const body = sampleBootstrap();
    const darkMode = body.items[0]?.featureFlags.find((f) => f['key'] === 'dark-mode');
    assert.ok(darkMode);
    darkMode['isEnabled'] = true;
    darkMode['updatedAt'] = new Date().toISOString();
    const updated = new Promise<void>((resolve) => client.on('update:dark-mode', () => resolve()));
    const response = await postBootstrap(agent.httpUrl, body);
    assert.equal(response.status, 200);
    await updated;
    assert.equal(await client.boolVariation('dark-mode', user, false), true);
  });
});
