import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The agent's version from its package.json (next to `dist/`, or two levels up from `.test-build/src/`). */
export function agentVersion(): string {
  if (cached !== undefined) return cached;
  for (const relative of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'featbit-agent-ts' && typeof pkg.version === 'string') return (cached = pkg.version);
    } catch {
      // not at this level: try the next one
    }
  }
  return (cached = '0.0.0-unknown');
}
