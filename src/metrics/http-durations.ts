/** Upper bounds of the HTTP duration buckets, in seconds. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

interface Series {
  labels: { method: string; route: string; status: string };
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

interface ExportedValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * `featbit_agent_http_request_duration_seconds`, observed on every HTTP response. prom-client's
 * `Histogram` validates and hashes the labels on each observation, a measurable share of a polling
 * request; here an observation is two map lookups, a bucket search and three additions. The
 * registry reads it through `get()` in prom-client's histogram format, so the exposition is the same.
 * A run of observations of one series (polling) skips even the lookups.
 */
export class HttpDurations {
  readonly name = 'featbit_agent_http_request_duration_seconds';
  readonly help = 'HTTP request durations by route template';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /** route → method → status → series; routes are templates, so the map is bounded. */
  private series = new Map<string, Map<string, Map<number, Series>>>();
  /** The series observed last: polling repeats one route, method and status. */
  private last: { route: string; method: string; status: number; series: Series } | undefined;

  observe(route: string, method: string, status: number, seconds: number): void {
    const last = this.last;
    const series =
      last !== undefined && last.route === route && last.method === method && last.status === status ? last.series : this.find(route, method, status);
    let bucket = 0;
    while (bucket < BUCKETS.length && seconds > BUCKETS[bucket]!) bucket++;
    series.counts[bucket]!++;
    series.sum += seconds;
    series.count++;
  }

  private find(route: string, method: string, status: number): Series {
    let byMethod = this.series.get(route);
    if (byMethod === undefined) {
      byMethod = new Map();
      this.series.set(route, byMethod);
    }
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) {
      byStatus = new Map();
      byMethod.set(method, byStatus);
    }
    let series = byStatus.get(status);
    if (series === undefined) {
      series = { labels: { method, route, status: String(status) }, counts: new Float64Array(BUCKETS.length + 1), sum: 0, count: 0 };
      byStatus.set(status, series);
    }
    this.last = { route, method, status, series };
    return series;
  }

  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ExportedValue[] }> {
    const values: ExportedValue[] = [];
    for (const byMethod of this.series.values()) {
      for (const byStatus of byMethod.values()) {
        for (const s of byStatus.values()) {
          let cumulative = 0;
          BUCKETS.forEach((le, i) => {
            cumulative += s.counts[i]!;
            values.push({ metricName: `${this.name}_bucket`, labels: { le, ...s.labels }, value: cumulative });
          });
          values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...s.labels }, value: s.count });
          values.push({ metricName: `${this.name}_sum`, labels: { ...s.labels }, value: s.sum });
          values.push({ metricName: `${this.name}_count`, labels: { ...s.labels }, value: s.count });
        }
      }
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.series = new Map();
    this.last = undefined;
  }
}
