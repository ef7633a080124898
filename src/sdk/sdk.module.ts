import { Module } from '@nestjs/common';
import { ServerSdkRoutes } from './server-sdk.routes.js';
import { SdkHttpGate } from './sdk-http-gate.js';

@Module({ providers: [ServerSdkRoutes, SdkHttpGate], exports: [SdkHttpGate] })
export class SdkModule {}
