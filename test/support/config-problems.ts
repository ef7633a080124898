import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load-config.js';
import { ConfigError } from '../../src/config/config.errors.js';

/** The problems loadConfig reports for an environment; fails the test when it reports none. */
export function configProblems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  assert.fail('expected a ConfigError');
}
