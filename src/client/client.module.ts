import { Global, Module } from '@nestjs/common';
import { ClientEvaluationService } from './client-evaluation.service.js';
import { ClientSdkController } from './client-sdk.controller.js';

/** Client SDK support: evaluation for streaming and polling. */
@Global()
@Module({ controllers: [ClientSdkController], providers: [ClientEvaluationService], exports: [ClientEvaluationService] })
export class ClientModule {}
