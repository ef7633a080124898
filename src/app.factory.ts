import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AgentConfig } from './config/agent-config.js';
import { AppModule, type AppModuleOptions } from './app.module.js';
import { FeatBitWsAdapter } from './streaming/featbit-ws.adapter.js';
import { StreamingGateway } from './streaming/streaming.gateway.js';
import { ConnectionRegistry } from './streaming/connection-registry.js';
import { PinoNestLogger, createPino } from './common/pino-logger.js';
import { registerCors } from './common/cors.js';
import { guardAdminRoutesBeforeBody } from './admin/admin-routes.js';
import { SdkHttpGate } from './sdk/sdk-http-gate.js';
import { closeSilentConnections } from './common/silent-connections.js';

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
  // SDK, OFREP and insight bodies are small: the SDK limit is fastify's default for every route;
  // only the admin bootstrap gets the large one, after its key is checked.
  const adapter = new FastifyAdapter({
    bodyLimit: config.sdkBodyLimitBytes,
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: true },
    // TRUST_PROXY: whose X-Forwarded-For names the client (request.ip, the rate-limit key).
    trustProxy: config.http.trustProxy,
  });
  const fastify = adapter.getInstance();
  closeSilentConnections(fastify.server, config.http.firstRequestTimeoutSeconds * 1000);
  guardAdminRoutesBeforeBody(fastify, config.apiKey, config.bootstrapBodyLimitBytes);
  registerCors(fastify);
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, options),
    adapter,
    { logger, abortOnError: false },
  );
  if (logger) app.useLogger(logger);
  // Before app.init(), where Nest registers the routes the gate hooks onto.
  const gate = app.get(SdkHttpGate);
  gate.register(fastify);
  // One refusal budget per client across HTTP and upgrades.
  const gateway = app.get(StreamingGateway);
  const registry = app.get(ConnectionRegistry);
  registry.outbound.limitBytes = config.streaming.outboundBudgetBytes;
  const wsAdapter = new FeatBitWsAdapter(app, gateway, config.streaming, registry, config.http.trustProxy, gate.tarpit);
  app.useWebSocketAdapter(wsAdapter);
  gateway.onStopAccepting = () => {
    wsAdapter.refusing = true;
  };
  app.enableShutdownHooks();
  return app;
}
