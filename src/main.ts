import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { findUnknownSettings, loadConfig } from './config/load-config.js';
import { settingsHelp, settingsMarkdownTable } from './config/settings.js';
import { agentVersion } from './common/version.js';
import { ConfigError } from './config/config.errors.js';
import { createApp } from './app.factory.js';
import { maskSecret, safeUrl } from './common/mask.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--version')) {
    console.log(agentVersion());
    return;
  }
  if (args.includes('--help')) {
    console.log(`featbit-agent ${agentVersion()}: a FeatBit relay proxy.\nUsage: node dist/main.js [--help | --version]\n\n${settingsHelp()}`);
    return;
  }
  if (args.includes('--settings-markdown')) {
    console.log(settingsMarkdownTable());
    return;
  }
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
  const logger = new Logger('Main');
  const app = await createApp(config);
  for (const unknown of findUnknownSettings(process.env)) {
    logger.warn({ msg: `unknown setting ${unknown.variable} ignored; did you mean ${unknown.suggestion}?`, variable: unknown.variable, suggestion: unknown.suggestion });
  }
  // The drain is bounded; this is the last resort if something hangs past it.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => setTimeout(() => process.exit(1), (config.shutdownTimeoutSeconds + 5) * 1000).unref());
  }
  await app.listen(config.port, config.host);
  logger.log({
    msg: `featbit agent ${agentVersion()} listening on ${config.host}:${config.port}: ${config.mode} mode, agent id ${config.agentId}, store ${config.store.type}, insights ${config.insightsMode}`,
    version: agentVersion(),
    port: config.port,
    mode: config.mode,
    modeReason: config.modeReason,
    agentId: config.agentId,
    store: config.store.type,
    insightsMode: config.insightsMode,
    apiKey: maskSecret(config.apiKey),
    streamingUri: config.mode === 'agent' ? safeUrl(config.streamingUri) : undefined,
  });
}

main().catch((error: unknown) => {
  console.error(`featbit agent failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
