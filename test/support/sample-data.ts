import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The bundled sample data set (protocol.md §12 environment plus flags of every type). */
export const SAMPLE_DATA_FILE = join(process.cwd(), 'data', 'sample-bootstrap.json');

export const ENV_ID = '0f3c2a91-6b7d-4e58-a1c4-93d2e8f7b605';
export const SERVER_SECRET = 'KksefcOVYE-KK8HT5fcIGQkSo8D31rWE6hxJPS6Pe2BQ';
export const CLIENT_SECRET = 'uMak4j8dW0qcfQ4fKjtMXQkSo8D31rWE6hxJPS6Pe2BQ';
export const RELAY_PROXY_KEY = 'rp-MzIxMDA2NTIyNzY3MQG558Sj8tWkuMbX6PmgscLQ';

export interface BootstrapBody {
  eventType: string;
  items: {
    envId: string;
    secrets: Record<string, unknown>[];
    featureFlags: Record<string, unknown>[];
    segments: Record<string, unknown>[];
  }[];
}

/** A fresh deep copy of the sample bootstrap body, safe to mutate. */
export function sampleBootstrap(): BootstrapBody {
  return JSON.parse(readFileSync(SAMPLE_DATA_FILE, 'utf8')) as BootstrapBody;
}

/** The example expectations of evaluation.md §11, copied into test/fixtures. */
export function exampleExpectations(): {
  cases: { flagKey: string; user: { keyId: string; name?: string; customizedProperties?: { name: string; value: string }[] }; variation: string; matchReason: string; sendToExperiment: boolean }[];
} {
  return JSON.parse(readFileSync(join(process.cwd(), 'test', 'fixtures', 'example-expectations.json'), 'utf8')) as ReturnType<typeof exampleExpectations>;
}
