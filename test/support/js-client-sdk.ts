import { createRequire } from 'node:module';
import { WebSocket } from 'ws';

/**
 * Runs the real `@featbit/js-client-sdk` (a browser SDK) in Node for e2e tests. It needs a global
 * `WebSocket` (the `ws` class has the browser event API) and `localStorage` (an in-memory shim);
 * its ESM build does not load in Node, so the CJS build is required.
 */
export interface ClientUser {
  keyId: string;
  name?: string;
  customizedProperties?: { name: string; value: string }[];
}

interface SdkClient {
  waitForInitialization(): Promise<unknown>;
  variation(key: string, defaultValue: string): unknown;
  boolVariation(key: string, defaultValue: boolean): boolean;
  identify(user: ClientUser): Promise<void>;
  on(event: string, listener: (...args: unknown[]) => void): void;
  close(): Promise<void>;
}

interface SdkModule {
  FbClientBuilder: new (options: Record<string, unknown>) => { build(): SdkClient };
}

class MemoryStorage {
  private readonly items = new Map<string, string>();
  get length(): number {
    return this.items.size;
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, String(value));
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
  clear(): void {
    this.items.clear();
  }
  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null;
  }
}

function installGlobals(): void {
  const g = globalThis as Record<string, unknown>;
  g['WebSocket'] ??= WebSocket;
  g['localStorage'] ??= new MemoryStorage();
}

let sdk: SdkModule | undefined;

function loadSdk(): SdkModule {
  installGlobals();
  sdk ??= createRequire(import.meta.url)('@featbit/js-client-sdk') as SdkModule;
  return sdk;
}

export interface JsClient {
  /** Typed as the flag's variationType says (boolean, number, string or parsed JSON). */
  variation(key: string, defaultValue: string): unknown;
  identify(user: ClientUser): Promise<void>;
  /** Resolves on the next change of `key` seen by the SDK. */
  nextChange(key: string): Promise<void>;
  close(): Promise<void>;
}

export async function startJsClient(options: { streamingUri: string; eventsUri: string; secret: string; user: ClientUser }): Promise<JsClient> {
  const { FbClientBuilder } = loadSdk();
  const client = new FbClientBuilder({
    sdkKey: options.secret,
    streamingUri: options.streamingUri,
    eventsUri: options.eventsUri,
    user: options.user,
    logLevel: 'none',
  }).build();
  await client.waitForInitialization();
  return {
    variation: (key, defaultValue) => client.variation(key, defaultValue),
    identify: (user) => client.identify(user),
    nextChange: (key) => new Promise((resolve) => client.on(`update:${key}`, () => resolve())),
    close: () => client.close(),
  };
}
