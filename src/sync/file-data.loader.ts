import { readFile } from 'node:fs/promises';
import { Inject, Injectable, Logger, Module, type DynamicModule, type OnApplicationBootstrap } from '@nestjs/common';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { OfflineModeConfig } from '../config/agent-config.js';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { DataValidationError, parseBootstrap } from '../store/data-set.js';
import { SyncStatusService } from '../status/sync-status.service.js';

export class DataFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DataFileError';
  }
}

/** Reads and validates a JSON dump (bootstrap body of protocol §4.2, or the legacy v1 array). */
export async function readDataFile(path: string) {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new DataFileError(`DATA_FILE ${path} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DataFileError(`DATA_FILE ${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  try {
    return parseBootstrap(json);
  } catch (error) {
    if (error instanceof DataValidationError) throw new DataFileError(`DATA_FILE ${path} is invalid: ${error.message}`);
    throw error;
  }
}

/** Offline mode: loads DATA_FILE before the server starts listening; a bad file stops start-up. */
@Injectable()
export class FileDataLoader implements OnApplicationBootstrap {
  private readonly logger = new Logger(FileDataLoader.name);

  constructor(
    @Inject(AGENT_CONFIG) private readonly config: OfflineModeConfig,
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    private readonly sync: SyncStatusService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const path = this.config.dataFile;
    if (!path) {
      this.logger.log({ msg: 'offline mode without DATA_FILE: waiting for POST /api/public/proxy/bootstrap' });
      return;
    }
    const data = await readDataFile(path);
    await this.store.replaceAll(data, { pushAll: false, fenced: false });
    this.sync.dataReceived();
    this.logger.log({ msg: 'data file loaded', path, envs: data.envs.length, dataVersion: this.store.data.dataVersion });
  }
}

@Module({})
export class FileDataModule {
  static forRoot(): DynamicModule {
    return { module: FileDataModule, providers: [FileDataLoader] };
  }
}
