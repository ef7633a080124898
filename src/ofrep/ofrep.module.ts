import { Module } from '@nestjs/common';
import { OfrepController } from './ofrep.controller.js';
import { OfrepEventsService } from './ofrep-events.service.js';

/** OpenFeature Remote Evaluation Protocol (OFREP v1) on the agent's cache. */
@Module({ controllers: [OfrepController], providers: [OfrepEventsService] })
export class OfrepModule {}
