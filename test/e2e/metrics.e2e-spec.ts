import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FbClientBuilder, UserBuilder, type IFbClient } from '@featbit/node-server-sdk';
import { startAgent, type RunningAgent } from '../support/agent-app.js';
import { SdkSocket } from '../support/sdk-socket.js';
import { CLIENT_SECRET, ENV_ID, RELAY_PROXY_KEY, SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';
import { MetricsService } from '../../src/metrics/metrics.service.js';

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : Number.NaN;
}

describe(MetricsService.name, () => {
  let agent: RunningAgent;
  let sdk: IFbClient;
  before(async () => {
    agent = await startAgent();
    sdk = new FbClientBuilder().sdkKey(SERVER_SECRET).streamingUri(agent.wsUrl).eventsUri(agent.httpUrl).logLevel('none').build();
    await sdk.waitForInitialization();
  });
  after(async () => {
    await sdk.close();
    await agent.close();
  });

  it('shows real SDK traffic: connections, messages, fan-out, HTTP durations; never a secret', async () => {
    const client = SdkSocket.forSecret(agent.wsUrl, 'client', CLIENT_SECRET);
    await client.opened;
    client.send({ messageType: 'data-sync', data: { timestamp: 0, user: { keyId: 'u-1' } } });
    await client.next();
    await sdk.boolVariation('dark-mode', new UserBuilder('u-1').build(), false);
    await fetch(`${agent.httpUrl}/api/public/sdk/server/latest-all`, { headers: { authorization: SERVER_SECRET } });
    const pushed = new Promise<void>((resolve) => sdk.on('update', () => resolve()));
    const body = sampleBootstrap();
    body.items[0]!.featureFlags[0]!['updatedAt'] = new Date().toISOString();
    await fetch(`${agent.httpUrl}/api/public/proxy/bootstrap`, { method: 'POST', headers: { authorization: RELAY_PROXY_KEY, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await pushed;
    await client.next();
    await agent.pushed();

    const response = await fetch(`${agent.httpUrl}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/plain/);
    const text = await response.text();
    assert.equal(value(text, `featbit_agent_connections{sdk_type="server",env_id="${ENV_ID}"}`), 1);
    assert.equal(value(text, `featbit_agent_connections{sdk_type="client",env_id="${ENV_ID}"}`), 1);
    assert.ok(value(text, 'featbit_agent_messages_in_total{type="data-sync"}') >= 2);
    assert.ok(value(text, 'featbit_agent_messages_out_total{kind="push"}') >= 2);
    assert.ok(value(text, 'featbit_agent_fanout_duration_seconds_count{sdk_type="server"}') >= 1);
    assert.ok(value(text, 'featbit_agent_fanout_duration_seconds_count{sdk_type="client"}') >= 1);
    assert.equal(value(text, 'featbit_agent_http_request_duration_seconds_count{method="GET",route="/api/public/sdk/server/latest-all",status="200"}'), 1);
    assert.equal(value(text, 'featbit_agent_store_up'), 1);
    assert.equal(value(text, 'featbit_agent_sync_state{state="None"}'), 1);
    assert.ok(value(text, 'featbit_agent_data_version') > 0);
    assert.match(text, /^featbit_agent_build_info\{version="\d+\.\d+\.\d+[^"]*",node_version="v\d+[^"]*",mode="offline",store="memory",insights_mode="off"\} 1$/m);
    assert.equal(value(text, 'featbit_agent_leader'), 0);
    assert.equal(value(text, 'featbit_agent_upstream_reconnects_total'), 0);
    // Node.js and process metrics under their standard names, as stock dashboards expect.
    for (const series of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds']) {
      assert.ok(Number.isFinite(value(text, series)), `no ${series}`);
    }
    for (const secret of [SERVER_SECRET, CLIENT_SECRET, RELAY_PROXY_KEY, SERVER_SECRET.slice(0, 12)]) assert.ok(!text.includes(secret), 'a secret in the metrics');
    client.close();
  });
});
