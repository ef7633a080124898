import { Module } from '@nestjs/common';
import { ServerSdkController } from './server-sdk.controller.js';
import { SdkHttpGate } from './sdk-http-gate.js';

@Module({ controllers: [ServerSdkController], providers: [SdkHttpGate], exports: [SdkHttpGate] })
export class SdkModule {}
