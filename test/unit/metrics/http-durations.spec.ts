import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, Registry, type Metric } from 'prom-client';
import { HttpDurations } from '../../../src/metrics/http-durations.js';

describe(HttpDurations.name, () => {
  it('exposes exactly what a prom-client Histogram with the same observations exposes', async () => {
    const observations: [string, string, number, number][] = [
      ['/api/public/sdk/server/latest-all', 'GET', 200, 0.0004],
      ['/api/public/sdk/server/latest-all', 'GET', 200, 0.0005],
      ['/api/public/sdk/server/latest-all', 'GET', 200, 0.003],
      ['/api/public/sdk/server/latest-all', 'GET', 401, 0.02],
      ['/ofrep/v1/evaluate/flags', 'POST', 200, 2],
      ['other', 'GET', 404, 0.00001],
      // Back to a series seen before (the last-series shortcut must not keep the previous one).
      ['/api/public/sdk/server/latest-all', 'GET', 200, 0.07],
      ['/api/public/sdk/server/latest-all', 'GET', 401, 0.02],
    ];
    const ours = new HttpDurations();
    const fast = new Registry();
    fast.registerMetric(ours as unknown as Metric);
    const reference = new Registry();
    const histogram = new Histogram({
      name: ours.name,
      help: ours.help,
      labelNames: ['method', 'route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [reference],
    });
    for (const [route, method, status, seconds] of observations) {
      ours.observe(route, method, status, seconds);
      histogram.observe({ method, route, status: String(status) }, seconds);
    }
    assert.equal(await fast.metrics(), await reference.metrics());
    ours.reset();
    assert.equal(await fast.metrics(), `# HELP ${ours.name} ${ours.help}\n# TYPE ${ours.name} histogram\n`);
    // After a reset, the series observed last before it starts again from zero.
    ours.observe('/api/public/sdk/server/latest-all', 'GET', 401, 0.02);
    assert.match(await fast.metrics(), /_count\{method="GET",route="\/api\/public\/sdk\/server\/latest-all",status="401"\} 1\n/);
  });
});
