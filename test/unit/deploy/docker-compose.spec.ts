import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../../src/config/load-config.js';
import { runtimeStage } from '../../deploy/dockerfile.js';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  profiles?: string[];
  environment?: Record<string, string>;
}

/** Substitutes `${VAR:-default}` as Compose does, with an empty environment. */
function interpolate(value: string, env: Record<string, string> = {}): string {
  return value.replace(/\$\{(\w+)(?::-([^}]*))?\}/g, (_, name: string, fallback: string | undefined) => env[name] ?? fallback ?? '');
}

/** A service's environment as the container would see it (unset variables are absent). */
function environmentOf(service: Service, vars: Record<string, string> = {}): Record<string, string> {
  const entries = Object.entries(service.environment ?? {}).map(([k, v]): [string, string] => [k, interpolate(String(v), vars)]);
  return Object.fromEntries(entries.filter(([, v]) => v !== ''));
}

const compose = parse(readFileSync(join(process.cwd(), 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const agents = Object.entries(compose.services).filter(([, s]) => s.image === 'featbit-agent-ts:local');

describe('docker-compose.yml', () => {
  it('offers a default offline agent and a cluster profile with Redis and two agents', () => {
    assert.deepEqual(agents.filter(([, s]) => !s.profiles).map(([name]) => name), ['agent']);
    assert.deepEqual(agents.filter(([, s]) => s.profiles?.includes('cluster')).map(([name]) => name), ['agent-a', 'agent-b']);
    assert.ok(compose.services['redis']?.profiles?.includes('cluster'));
    assert.deepEqual(agents.filter(([, s]) => s.profiles?.includes('sentinel')).map(([name]) => name), ['agent-sentinel-a', 'agent-sentinel-b']);
  });

  it('sentinel profile: one master, one replica of it, three sentinels watching it with a quorum of two', () => {
    const inProfile = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('sentinel'));
    const redis = inProfile.filter(([, s]) => s.image?.startsWith('redis:'));
    const sentinels = redis.filter(([, s]) => s.command?.join(' ').includes('--sentinel'));
    const data = redis.filter(([, s]) => !s.command?.join(' ').includes('--sentinel'));
    assert.deepEqual(data.map(([name]) => name), ['redis-primary', 'redis-replica']);
    assert.ok(!compose.services['redis-primary']!.command!.includes('--replicaof'));
    const replicaof = compose.services['redis-replica']!.command!;
    assert.deepEqual(replicaof.slice(replicaof.indexOf('--replicaof') + 1, replicaof.indexOf('--replicaof') + 3), ['redis-primary', '6379']);
    assert.equal(sentinels.length, 3);
    for (const [name, service] of sentinels) {
      const conf = service.command!.join(' ');
      assert.match(conf, /^port 26379$/m, name);
      assert.match(conf, /^sentinel monitor mymaster redis-primary 6379 2$/m, name);
      assert.match(conf, /^sentinel resolve-hostnames yes$/m, name);
      assert.match(conf, /redis-server \/tmp\/sentinel\.conf --sentinel/, name);
    }
    // The agents ask exactly these sentinels, for the master they watch.
    for (const name of ['agent-sentinel-a', 'agent-sentinel-b']) {
      const config = loadConfig(environmentOf(compose.services[name]!));
      assert.ok(config.store.type === 'redis');
      assert.deepEqual(config.store.sentinels, sentinels.map(([host]) => ({ host, port: 26379 })));
      assert.equal(config.store.sentinelMaster, 'mymaster');
      assert.equal(config.store.url, '');
    }
  });

  for (const [name, service] of agents) {
    it(`${name}: its environment is accepted by the agent's config loader`, () => {
      const env = environmentOf(service);
      const config = loadConfig(env);
      assert.equal(config.port, 6100);
      if (config.store.type === 'redis') {
        const hosts = config.store.sentinels?.map((s) => s.host) ?? [new URL(config.store.url).hostname];
        for (const host of hosts) assert.ok(compose.services[host]?.profiles?.every((p) => service.profiles?.includes(p)), `${host} is a service of ${name}'s profile`);
      }
      if (config.mode === 'offline' && config.dataFile) {
        // The image copies data/ to /app/data.
        assert.ok(existsSync(join(process.cwd(), config.dataFile.replace(/^\/app\//, ''))), config.dataFile);
      }
    });
  }

  it('agent mode works in the cluster profile when its variables are set', () => {
    const service = compose.services['agent-a']!;
    const vars = { MODE: 'agent', STREAMING_URI: 'ws://featbit-els:5100', EVENT_URI: 'http://featbit-els:5100', API_KEY: 'rp-key' };
    const env = environmentOf(service, vars);
    const config = loadConfig(env);
    assert.equal(config.mode, 'agent');
    assert.equal(config.insightsMode, 'forward');
  });

  it('runs the image entry point: the Dockerfile starts dist/main.js and ships data/', () => {
    const stage = runtimeStage();
    assert.deepEqual(stage.cmd, ['node', '--single-threaded-gc', 'dist/main.js']);
    assert.ok(stage.contextSources.includes('data'));
  });

  it('keeps the default agent\'s writes on a named volume at the image\'s VOLUME', () => {
    const agent = compose.services['agent'] as Service & { volumes?: string[] };
    const volume = runtimeStage().volumes[0];
    assert.ok(agent.volumes?.some((v) => v.endsWith(`:${volume}`)), `agent mounts ${volume}`);
  });
});
