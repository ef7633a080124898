import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getMetadataStorage } from 'class-validator';
import { AgentEnv } from '../../../src/config/agent-env.js';
import { SETTINGS, settingsMarkdownTable, type Setting } from '../../../src/config/settings.js';
import { findUnknownSettings, loadConfig } from '../../../src/config/load-config.js';
import { configProblems } from '../../support/config-problems.js';

const NAMES = new Set((SETTINGS as readonly Setting[]).map((s) => s.name));

const problemsOf = configProblems;

describe('settings schema', () => {
  it('declares every validated AgentEnv field once, and nothing else', () => {
    const validated = new Set(getMetadataStorage().getTargetValidationMetadatas(AgentEnv, '', true, false).map((m) => m.propertyName));
    const declared = (SETTINGS as readonly Setting[]).map((s) => s.field);
    assert.equal(new Set(declared).size, declared.length, 'a field is declared twice');
    assert.deepEqual([...validated].sort(), [...declared].sort());
    assert.equal(NAMES.size, SETTINGS.length, 'a variable name is declared twice');
  });

  it("keeps the README's configuration table equal to the schema", () => {
    const readme = readFileSync(join(process.cwd(), 'README.md'), 'utf8');
    const section = /<!-- settings:begin[^\n]*-->\n([\s\S]*?)<!-- settings:end -->/.exec(readme)?.[1];
    assert.ok(section !== undefined, 'README has no settings:begin/end markers');
    assert.equal(section.trimEnd(), settingsMarkdownTable(), 'regenerate with `node dist/main.js --settings-markdown`');
  });

  it('lets the Helm chart set only declared settings', () => {
    const chart = join(process.cwd(), 'helm', 'featbit-agent');
    const configMap = readFileSync(join(chart, 'templates', 'configmap.yaml'), 'utf8');
    const dataKeys = [...configMap.matchAll(/^\s+([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1] ?? '');
    assert.ok(dataKeys.length > 5, 'no ConfigMap keys found');
    for (const key of dataKeys) assert.ok(NAMES.has(key), `ConfigMap key ${key} is not a declared setting`);
    const deployment = readFileSync(join(chart, 'templates', 'deployment.yaml'), 'utf8');
    const envNames = [...deployment.matchAll(/- name: ([A-Z][A-Z0-9_]*)\n/g)].map((m) => m[1] ?? '').filter((n) => n !== 'NODE_ENV' && n !== 'NODE_OPTIONS');
    for (const name of envNames) assert.ok(NAMES.has(name), `Deployment env ${name} is not a declared setting`);
    const values = readFileSync(join(chart, 'values.yaml'), 'utf8');
    const secretKeys = /existingSecretKeys:\n((?:\s+\w+: \w+\n)+)/.exec(values)?.[1] ?? '';
    for (const key of [...secretKeys.matchAll(/: (\w+)/g)].map((m) => m[1] ?? '')) {
      const declared = (SETTINGS as readonly Setting[]).find((s) => s.name === key);
      assert.ok(declared?.secret === true, `Secret key ${key} is not a declared secret setting`);
    }
  });

  it('warns about variables that look like ours, and only those', () => {
    const found = findUnknownSettings({
      STREAMING_URL: 'ws://x',
      INSIGHT_MODE: 'local',
      Redis_Key_Prefx: 'x',
      StreamingUri: 'ws://x',
      PORT: '1',
      PATH: '/bin',
      HOME: '/root',
      NODE_ENV: 'production',
      HOSTNAME: 'pod-1',
      FEATBIT_AGENT_PORT: 'tcp://10.0.0.1:6100',
      REDIS_SERVICE_HOST: '10.0.0.2',
      REDIS_PORT_6379_TCP: 'tcp://10.0.0.2:6379',
    });
    assert.deepEqual(found, [
      { variable: 'STREAMING_URL', suggestion: 'STREAMING_URI' },
      { variable: 'INSIGHT_MODE', suggestion: 'INSIGHTS_MODE' },
      { variable: 'Redis_Key_Prefx', suggestion: 'REDIS_KEY_PREFIX' },
    ]);
  });

  it("selects agent mode as the C# agent does when Mode is unset", () => {
    const config = loadConfig({ ApiKey: 'rp-key', StreamingUri: 'ws://featbit-els:5100', EventUri: 'http://featbit-els:5100' });
    assert.equal(config.mode, 'agent');
    assert.match(config.modeReason ?? '', /STREAMING_URI/);
    assert.equal(config.insightsMode, 'forward');
    assert.equal(loadConfig({ API_KEY: 'rp-key', DATA_FILE: 'data.json' }).mode, 'offline');
    assert.equal(loadConfig({}).mode, 'offline');
    assert.ok(problemsOf({ ApiKey: 'rp-key' }).some((p) => p.includes('MODE=offline')));
  });

  it('refuses ForwardEvents=true without EventUri', () => {
    assert.ok(problemsOf({ Mode: 'auto', ApiKey: 'rp', StreamingUri: 'ws://els:5100', ForwardEvents: 'true' }).some((p) => p.includes('FORWARD_EVENTS=true needs EVENT_URI')));
  });

  it('prints --version and a --help that lists every setting', () => {
    const main = join(process.cwd(), '.test-build', 'src', 'main.js');
    const pkg = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { version: string };
    assert.equal(execFileSync(process.execPath, [main, '--version'], { encoding: 'utf8' }).trim(), pkg.version);
    const help = execFileSync(process.execPath, [main, '--help'], { encoding: 'utf8' });
    for (const s of SETTINGS as readonly Setting[]) assert.ok(help.includes(`  ${s.name}`), `--help does not list ${s.name}`);
  });
});
