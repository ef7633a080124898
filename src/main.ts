import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { loadConfig } from './config/load-config.js';
import { ConfigError } from './config/config.errors.js';
import { createApp } from './app.factory.js';
import { maskSecret, safeUrl } from './common/mask.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const app = await createApp(config);
  // The drain is bounded; this is the last resort if something hangs past it.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => setTimeout(() => process.exit(1), (config.shutdownTimeoutSeconds + 5) * 1000).unref());
  }
  await app.listen(config.port, config.host);
  new Logger('Main').log({
    msg: 'featbit agent listening',
    port: config.port,
    mode: config.mode,
    store: config.store.type,
    apiKey: maskSecret(config.apiKey),
    streamingUri: config.mode === 'agent' ? safeUrl(config.streamingUri) : undefined,
  });
}

main().catch((error: unknown) => {
  console.error(`featbit agent failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
