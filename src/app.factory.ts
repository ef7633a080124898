import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AgentConfig } from './config/agent-config.js';
import { AppModule, type AppModuleOptions } from './app.module.js';
import { FeatBitWsAdapter } from './streaming/featbit-ws.adapter.js';
import { StreamingGateway } from './streaming/streaming.gateway.js';
import { ConnectionRegistry } from './streaming/connection-registry.js';
import { PinoNestLogger, createPino } from './common/pino-logger.js';

/** Bootstrap bodies of large workspaces are big; SDK requests are small. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;


/** JSON logs in production, readable ones in development; secrets masked (first 4 characters). */
export function createLogger(config: AgentConfig): PinoNestLogger {
  return new PinoNestLogger(createPino({ level: config.logLevel, pretty: process.env['NODE_ENV'] !== 'production' }));
}

export interface CreateAppOptions extends AppModuleOptions {
  /** false silences Nest's logger (tests). */
  logger?: boolean;
}

/** Builds the Nest application on fastify with the FeatBit WebSocket adapter; does not listen. */
export async function createApp(config: AgentConfig, options: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  const logger = options.logger === false ? false : createLogger(config);
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, options),
    new FastifyAdapter({ bodyLimit: MAX_BODY_BYTES, routerOptions: { caseSensitive: false, ignoreTrailingSlash: true } }),
    { logger, abortOnError: false },
  );
  if (logger) app.useLogger(logger);
  const wsAdapter = new FeatBitWsAdapter(app, config.streaming, app.get(ConnectionRegistry));
  app.useWebSocketAdapter(wsAdapter);
  app.get(StreamingGateway).onStopAccepting = () => {
    wsAdapter.refusing = true;
  };
  // CORS open to any origin (protocol §3.5). On the preHandler hook Nest registers @fastify/cors as
  // is; its default onRequest wiring copies headers per request and cost a fifth of polling throughput.
  app.enableCors({ origin: '*', methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], maxAge: 86400, hook: 'preHandler' });
  app.enableShutdownHooks();
  return app;
}
