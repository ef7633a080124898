import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SchedulerRegistry } from '@nestjs/schedule';
import { offlineConfig, startAgent, type RunningAgent } from '../support/agent-app.js';

describe('periodic jobs on @nestjs/schedule', () => {
  let agent: RunningAgent;
  const dir = mkdtempSync(join(tmpdir(), 'schedule-'));
  before(async () => {
    const base = offlineConfig();
    agent = await startAgent(offlineConfig({ insightsMode: 'local', insights: { ...base.insights, mode: 'local', dir } }));
  });
  after(async () => {
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs insight retention as an hourly cron job that stops with the app', () => {
    const job = agent.app.get(SchedulerRegistry).getCronJob('insight-retention');
    assert.ok(job.isActive, 'the retention job is scheduled');
    const next = job.nextDate().toMillis();
    assert.ok(next > Date.now() && next <= Date.now() + 3_600_000, 'it runs within the hour');
  });
});
