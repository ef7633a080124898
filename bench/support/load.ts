import autocannon from 'autocannon';

export interface LoadResult {
  rps: number;
  p99: number;
  errors: number;
}

export interface Target {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

export async function load(target: Target, seconds: number, connections: number): Promise<LoadResult> {
  const result = await autocannon({ ...target, connections, duration: seconds, pipelining: 1 });
  return { rps: result.requests.average, p99: result.latency.p99, errors: result.errors + result.non2xx };
}

/**
 * Warms both targets, then alternates three runs of each (the machine is shared and noisy) and
 * prints the medians and the ratio agent/bare.
 */
export async function compareWithBare(label: string, agent: Target, bare: Target, seconds: number, connections: number, target: number): Promise<void> {
  await load(bare, Math.min(2, seconds), connections);
  await load(agent, Math.min(2, seconds), connections);
  const runs = { bare: [] as LoadResult[], agent: [] as LoadResult[] };
  for (let i = 0; i < 3; i++) {
    runs.bare.push(await load(bare, seconds, connections));
    runs.agent.push(await load(agent, seconds, connections));
  }
  const median = (list: LoadResult[]): LoadResult => [...list].sort((x, y) => x.rps - y.rps)[1]!;
  const b = median(runs.bare);
  const a = median(runs.agent);
  console.log(`runs (req/s): bare ${runs.bare.map((r) => r.rps.toFixed(0)).join(', ')}; agent ${runs.agent.map((r) => r.rps.toFixed(0)).join(', ')}`);
  console.log(`bare node:http      ${b.rps.toFixed(0).padStart(7)} req/s  p99 ${b.p99} ms  errors ${b.errors}`);
  console.log(`${label.padEnd(19)} ${a.rps.toFixed(0).padStart(7)} req/s  p99 ${a.p99} ms  errors ${a.errors}`);
  console.log(`ratio agent/bare    ${(a.rps / b.rps).toFixed(2)}  (target ≥ ${target})`);
}
