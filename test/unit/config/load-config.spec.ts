import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, defaultAgentId } from '../../../src/config/load-config.js';
import { configProblems } from '../../support/config-problems.js';

const problemsOf = configProblems;

describe(loadConfig.name, () => {
  it('defaults to offline mode on port 6100 with the memory store', () => {
    const config = loadConfig({});
    assert.equal(config.mode, 'offline');
    assert.equal(config.port, 6100);
    assert.deepEqual(config.store, { type: 'memory' });
    assert.equal(config.tokenExpirySeconds, 30);
    assert.equal(config.insightsMode, 'off');
    assert.equal(config.apiKey, undefined);
  });

  it('reads our variable names', () => {
    const config = loadConfig({
      MODE: 'agent',
      PORT: '7000',
      API_KEY: 'rp-key',
      AGENT_ID: 'pod-1',
      STREAMING_URI: 'ws://els:5100',
      EVENT_URI: 'http://els:5100',
      TOKEN_EXPIRY_SECONDS: '60',
    });
    assert.equal(config.mode, 'agent');
    assert.equal(config.port, 7000);
    assert.equal(config.agentId, 'pod-1');
    assert.equal(config.insightsMode, 'forward');
    assert.equal(config.tokenExpirySeconds, 60);
    assert.ok(config.mode === 'agent' && config.streamingUri.href === 'ws://els:5100/');
  });

  it("accepts the C# agent's names case-insensitively, with auto/manual", () => {
    const config = loadConfig({
      Mode: 'Auto',
      ApiKey: 'rp-key',
      agentid: 'docker-agent-001',
      StreamingUri: 'wss://featbit.example.com/els',
      EventUri: 'https://featbit.example.com/els',
      ForwardEvents: 'false',
      Streaming__TokenExpirySeconds: '45',
      ASPNETCORE_URLS: 'http://+:6200',
    });
    assert.equal(config.mode, 'agent');
    assert.equal(config.apiKey, 'rp-key');
    assert.equal(config.agentId, 'docker-agent-001');
    assert.equal(config.insightsMode, 'off');
    assert.equal(config.tokenExpirySeconds, 45);
    assert.equal(config.port, 6200);
    assert.equal(loadConfig({ mode: 'MANUAL' }).mode, 'offline');
  });

  it('reports every problem at once', () => {
    const problems = problemsOf({ MODE: 'agent', PORT: 'eighty', STREAMING_URI: 'http://not-ws', TOKEN_EXPIRY_SECONDS: '0', FORWARD_EVENTS: 'maybe' });
    assert.ok(problems.some((p) => p.includes('PORT must be an integer')));
    assert.ok(problems.some((p) => p.includes('API_KEY is required')));
    assert.ok(problems.some((p) => p.includes('STREAMING_URI must be a ws://')));
    assert.ok(problems.some((p) => p.includes('TOKEN_EXPIRY_SECONDS must be at least 1')));
    assert.ok(problems.some((p) => p.includes('FORWARD_EVENTS must be true or false')));
  });

  const invalid: [string, Record<string, string>, RegExp][] = [
    ['an unknown mode', { MODE: 'proxy' }, /MODE must be one of/],
    ['a port out of range', { PORT: '70000' }, /PORT must be between/],
    ['an unknown store', { STORE: 'postgres' }, /STORE must be one of/],
    ['redis without a URL', { STORE: 'redis' }, /REDIS_URL is required/],
    ['an unknown insights mode', { INSIGHTS_MODE: 'sell' }, /INSIGHTS_MODE must be one of/],
    ['forward without EVENT_URI', { INSIGHTS_MODE: 'forward' }, /needs EVENT_URI/],
    ['a bad EVENT_URI', { EVENT_URI: 'ftp://x' }, /EVENT_URI must be/],
    ['a negative rate limit', { RATE_LIMIT_PER_SECOND: '-1' }, /RATE_LIMIT_PER_SECOND must be at least 0/],
    ['a rate limit that is not a number', { RATE_LIMIT_PER_SECOND: 'lots' }, /RATE_LIMIT_PER_SECOND must be an integer/],
    ['an empty burst', { RATE_LIMIT_BURST: '0' }, /RATE_LIMIT_BURST must be at least 1/],
    ['a TRUST_PROXY that is no address', { TRUST_PROXY: 'ingress.local' }, /TRUST_PROXY must be true, false, or comma-separated/],
    ['a TRUST_PROXY with a bad prefix', { TRUST_PROXY: '10.0.0.0/33' }, /TRUST_PROXY must be/],
    // fastify 5 trusts no hop given as a count (it cannot check the immediate peer): refused, not silently ignored.
    ['a TRUST_PROXY hop count', { TRUST_PROXY: '2' }, /TRUST_PROXY must be/],
  ];
  for (const [name, env, expected] of invalid) {
    it(`rejects ${name}`, () => {
      assert.ok(problemsOf(env).some((p) => expected.test(p)), JSON.stringify(problemsOf(env)));
    });
  }

  it('limits each client to 1,000 tokens a second (burst 1,000), holds refusals past 10 a second (burst 20), and trusts no proxy by default', () => {
    assert.deepEqual(loadConfig({}).http, { rateLimitPerSecond: 1000, rateLimitBurst: 1000, refusalsPerSecond: 10, refusalBurst: 20, firstRequestTimeoutSeconds: 10, maxConnections: 40000, trustProxy: false });
    const config = loadConfig({ RATE_LIMIT_PER_SECOND: '0', RATE_LIMIT_BURST: '10', REFUSALS_PER_SECOND: '0', REFUSAL_BURST: '5', TRUST_PROXY: ' 10.0.0.0/8, 127.0.0.1 ,fd00::/8' });
    assert.deepEqual(config.http, { rateLimitPerSecond: 0, rateLimitBurst: 10, refusalsPerSecond: 0, refusalBurst: 5, firstRequestTimeoutSeconds: 10, maxConnections: 40000, trustProxy: ['10.0.0.0/8', '127.0.0.1', 'fd00::/8'] });
    assert.throws(() => loadConfig({ REFUSAL_BURST: '0' }), /REFUSAL_BURST must be at least 1/);
    assert.equal(loadConfig({ TRUST_PROXY: 'TRUE' }).http.trustProxy, true);
    assert.throws(() => loadConfig({ MAX_CONNECTIONS: '50000' }), /HTTP_MAX_CONNECTIONS \(40000\) must be above MAX_CONNECTIONS \(50000\), which it includes, or 0/);
    assert.equal(loadConfig({ MAX_CONNECTIONS: '50000', HTTP_MAX_CONNECTIONS: '0' }).http.maxConnections, 0);
  });

  it('derives a stable agent id from the host name', () => {
    assert.equal(defaultAgentId('Pod-7.cluster'), defaultAgentId('Pod-7.cluster'));
    assert.notEqual(defaultAgentId('pod-7'), defaultAgentId('pod-8'));
    assert.match(defaultAgentId('Pod-7.cluster'), /^pod-7-cluster-[0-9a-f]{8}$/);
  });
});
