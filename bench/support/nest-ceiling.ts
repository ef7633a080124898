/**
 * The framework ceiling: a one-route Nest + fastify app whose handler sends a prepared Buffer
 * through `@Res()`. Nothing the agent does per request (auth, CORS, metrics, evaluation) runs here,
 * so no Nest + fastify app can serve the same bytes faster.
 */
import 'reflect-metadata';
import { Controller, Get, Module, Post, Res } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply } from 'fastify';

export async function startNestCeiling(method: 'GET' | 'POST', path: string, body: Buffer): Promise<number> {
  const Route = method === 'GET' ? Get : Post;

  @Controller()
  class CeilingController {
    @Route(path)
    serve(@Res() reply: FastifyReply): void {
      void reply.code(200).header('content-type', 'application/json; charset=utf-8').send(body);
    }
  }

  @Module({ controllers: [CeilingController] })
  class CeilingModule {}

  const app = await NestFactory.create<NestFastifyApplication>(CeilingModule, new FastifyAdapter(), { logger: false });
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  if (address === null || typeof address === 'string') throw new Error('nest ceiling has no TCP address');
  return address.port;
}
