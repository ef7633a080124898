import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AgentConfig } from './config/agent-config.js';
import { AppModule, type AppModuleOptions } from './app.module.js';
import { FeatBitWsAdapter } from './streaming/featbit-ws.adapter.js';

/** Bootstrap bodies of large workspaces are big; SDK requests are small. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

const LEVELS: Record<AgentConfig['logLevel'], LogLevel[]> = {
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
  info: ['fatal', 'error', 'warn', 'log'],
  warn: ['fatal', 'error', 'warn'],
  error: ['fatal', 'error'],
};

export interface CreateAppOptions extends AppModuleOptions {
  /** false silences Nest's logger (tests). */
  logger?: boolean;
}

/** Builds the Nest application on fastify with the FeatBit WebSocket adapter; does not listen. */
export async function createApp(config: AgentConfig, options: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  const logger =
    options.logger === false
      ? false
      : new ConsoleLogger({ json: process.env['NODE_ENV'] === 'production', logLevels: LEVELS[config.logLevel] });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, options),
    new FastifyAdapter({ bodyLimit: MAX_BODY_BYTES, routerOptions: { caseSensitive: false, ignoreTrailingSlash: true } }),
    { logger, abortOnError: false },
  );
  app.useWebSocketAdapter(new FeatBitWsAdapter(app));
  // CORS open to any origin (protocol §3.5). On the preHandler hook Nest registers @fastify/cors as
  // is; its default onRequest wiring copies headers per request and cost a fifth of polling throughput.
  app.enableCors({ origin: '*', methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], maxAge: 86400, hook: 'preHandler' });
  app.enableShutdownHooks();
  return app;
}
