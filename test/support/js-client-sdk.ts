import { webcrypto } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { WebSocket } from 'ws';

/**
 * Runs the real `@featbit/js-client-sdk` 4.2.x (a browser SDK) in Node, for e2e tests against the agent.
 *
 * - Its ESM build cannot be imported by Node (directory imports in dist/esm), so the CJS build is required.
 * - It needs a global `WebSocket` with the browser API (`addEventListener`, `WebSocket.OPEN`): Node 20 has
 *   none, the `ws` class is installed. It also uses the globals `fetch`, `crypto.subtle`, `TextEncoder`
 *   (present in Node 20) and, only with its default store, `localStorage` (an in-memory shim is installed
 *   then). No `window`, `document` or `navigator` is touched.
 * - By default every client gets its own in-memory store (the SDK's `InMemoryStore`), so clients of
 *   different tests never share cached flags. `storage: 'localStorage'` uses the browser default store
 *   on a process-wide in-memory `localStorage` instead (a cache shared like a browser origin's).
 */

export interface ClientUser {
  keyId: string;
  name?: string;
  customizedProperties?: { name: string; value: string }[];
}

/** What the SDK returns from `*VariationDetail` (`kind`: Match, FlagNotFound, WrongType, Error). */
export interface EvalDetail {
  flagKey: string;
  kind: string;
  reason?: string;
  value: unknown;
}

/** The parts of the SDK's `IFbClient` used here (its own typings cannot be loaded from this ESM project). */
export interface SdkClient {
  waitForInitialization(): Promise<unknown>;
  initialized(): boolean;
  variation(key: string, defaultValue: unknown): unknown;
  variationDetail(key: string, defaultValue: unknown): EvalDetail;
  boolVariation(key: string, defaultValue: boolean): boolean;
  stringVariation(key: string, defaultValue: string): string;
  numberVariation(key: string, defaultValue: number): number;
  jsonVariation(key: string, defaultValue: unknown): unknown;
  getAllVariations(): Promise<EvalDetail[]>;
  identify(user: ClientUser): Promise<void>;
  track(eventName: string, metricValue?: number): void;
  flush(): Promise<boolean>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  close(): Promise<void>;
}

interface SdkModule {
  FbClientBuilder: new (options: Record<string, unknown>) => { build(): SdkClient };
}

type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'none';

export interface StartJsClientOptions {
  /** Base URL of the agent's WebSocket endpoint (`ws://host:port`); the SDK appends `/streaming` (and maps http→ws). */
  streamingUri: string;
  /** Base URL for `/api/public/insight/track`. Defaults to `streamingUri` with ws→http. */
  eventsUrl?: string;
  /** Alias of `eventsUrl` (the SDK's own option name). */
  eventsUri?: string;
  /** Client environment secret (the SDK's `sdkKey`). */
  secret: string;
  user: ClientUser;
  /** `streaming` (default) or `polling` (`POST {pollingUri}/api/public/sdk/client/latest-all`). */
  dataSyncMode?: 'streaming' | 'polling';
  /** Base URL for polling. Defaults to `eventsUrl`. */
  pollingUri?: string;
  /** Polling period in ms (SDK default 30000). */
  pollingInterval?: number;
  /** Ping period in ms (SDK default 18000); the SDK recycles the socket after 2 periods without any message. */
  webSocketPingInterval?: number;
  /** How long the client may take to become ready before `startJsClient` rejects (SDK default 5000 ms). */
  startWaitTime?: number;
  /** Insight flush period in ms (SDK default 2000). */
  flushInterval?: number;
  /** Do not queue/post insights at all (also makes `close()` immediate). */
  disableEvents?: boolean;
  /** SDK log level (default `none`). */
  logLevel?: LogLevel;
  /** Per-client in-memory store (default) or the browser default store on a shared in-memory `localStorage`. */
  storage?: 'memory' | 'localStorage';
  /** Wait for the first data-sync reply before resolving (default true). */
  waitForReady?: boolean;
}

export interface JsClientHandle {
  /** The underlying SDK client, for anything not wrapped here. */
  readonly sdk: SdkClient;
  /** Milliseconds from building the client until it was ready (NaN with `waitForReady: false`). */
  readonly readyAfterMs: number;
  /** Typed as the flag's variationType says (boolean, number, string or parsed JSON); `defaultValue` when unknown. */
  variation(key: string, defaultValue: unknown): unknown;
  variationDetail(key: string, defaultValue: unknown): EvalDetail;
  boolVariation(key: string, defaultValue: boolean): boolean;
  stringVariation(key: string, defaultValue: string): string;
  /**
   * Switches user on the same socket and resolves once the SDK has processed the agent's reply for the
   * new user. Rejects after `timeoutMs` (the SDK's own promise never settles if no reply comes).
   */
  identify(user: ClientUser, timeoutMs?: number): Promise<void>;
  /**
   * Resolves on the next `update:<key>` event: the flag appeared/disappeared, or its served variation value
   * for the current user changed (a newer timestamp with the same value is no event). Call it before the
   * change is triggered. Rejects after `timeoutMs`.
   */
  waitForChange(key: string, timeoutMs?: number): Promise<void>;
  /** Same as `waitForChange`. */
  nextChange(key: string, timeoutMs?: number): Promise<void>;
  /** Posts queued insights now. */
  flush(): Promise<boolean>;
  /**
   * Flushes insights (up to ~1 s: the SDK's dispatch loop polls every second), then closes the socket with
   * 4003. SDK timers (ping, flush loop, start timeout) may keep the process alive up to 18 s afterwards.
   */
  close(): Promise<void>;
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

/** Installs what the SDK needs in Node. Idempotent; never replaces an existing global. */
export function installJsClientGlobals(options: { localStorage?: boolean } = {}): void {
  const g = globalThis as unknown as Record<string, unknown>;
  g['WebSocket'] ??= WebSocket;
  g['crypto'] ??= webcrypto;
  if (options.localStorage) g['localStorage'] ??= new MemoryStorage();
}

const requireCjs = createRequire(import.meta.url);
let sdkModule: SdkModule | undefined;
let inMemoryStore: (new () => object) | undefined;

function loadSdk(): SdkModule {
  installJsClientGlobals();
  sdkModule ??= requireCjs('@featbit/js-client-sdk') as SdkModule;
  return sdkModule;
}

/** The SDK's `InMemoryStore` is a default export that the package index does not re-export. */
function newInMemoryStore(): object {
  if (!inMemoryStore) {
    const file = join(dirname(requireCjs.resolve('@featbit/js-client-sdk')), 'store', 'InMemoryStore.js');
    const loaded = requireCjs(file) as { default?: unknown };
    if (typeof loaded.default !== 'function') throw new Error(`no InMemoryStore in ${file}`);
    inMemoryStore = loaded.default as new () => object;
  }
  return new inMemoryStore();
}

/**
 * The SDK rejects a user whose `name` is blank (the constructor throws, `identify` silently does nothing),
 * so `name` defaults to `keyId`. The user is copied because the SDK sorts `customizedProperties` in place.
 */
function sdkUser(user: ClientUser): ClientUser {
  const name = user.name !== undefined && user.name.trim() !== '' ? user.name : user.keyId;
  const copy: ClientUser = { keyId: user.keyId, name };
  if (user.customizedProperties) copy.customizedProperties = user.customizedProperties.map((p) => ({ name: p.name, value: p.value }));
  return copy;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function startJsClient(options: StartJsClientOptions): Promise<JsClientHandle> {
  const storage = options.storage ?? 'memory';
  installJsClientGlobals({ localStorage: storage === 'localStorage' });
  const { FbClientBuilder } = loadSdk();
  const eventsUrl = options.eventsUrl ?? options.eventsUri ?? options.streamingUri.replace(/^ws/, 'http');
  const sdkOptions: Record<string, unknown> = {
    sdkKey: options.secret,
    user: sdkUser(options.user),
    streamingUri: options.streamingUri,
    eventsUri: eventsUrl,
    pollingUri: options.pollingUri ?? eventsUrl,
    dataSyncMode: options.dataSyncMode ?? 'streaming',
    logLevel: options.logLevel ?? 'none',
  };
  if (storage === 'memory') sdkOptions['store'] = newInMemoryStore();
  for (const key of ['pollingInterval', 'webSocketPingInterval', 'startWaitTime', 'flushInterval', 'disableEvents'] as const) {
    if (options[key] !== undefined) sdkOptions[key] = options[key];
  }

  const started = performance.now();
  const client = new FbClientBuilder(sdkOptions).build();
  let readyAfterMs = Number.NaN;
  if (options.waitForReady ?? true) {
    try {
      await client.waitForInitialization();
    } catch (error) {
      await client.close().catch(() => undefined);
      throw error;
    }
    readyAfterMs = performance.now() - started;
  }

  const waitForChange = (key: string, timeoutMs = 10_000): Promise<void> => {
    const event = `update:${key}`;
    let listener: (() => void) | undefined;
    const changed = new Promise<void>((resolve) => {
      listener = () => resolve();
      client.on(event, listener);
    });
    return withTimeout(changed, timeoutMs, `change of ${key}`).finally(() => {
      if (listener) client.off(event, listener);
    });
  };

  return {
    sdk: client,
    readyAfterMs,
    variation: (key, defaultValue) => client.variation(key, defaultValue),
    variationDetail: (key, defaultValue) => client.variationDetail(key, defaultValue),
    boolVariation: (key, defaultValue) => client.boolVariation(key, defaultValue),
    stringVariation: (key, defaultValue) => client.stringVariation(key, defaultValue),
    identify: (user, timeoutMs = 10_000) => withTimeout(client.identify(sdkUser(user)), timeoutMs, `identify ${user.keyId}`),
    waitForChange,
    nextChange: waitForChange,
    flush: () => client.flush(),
    close: () => client.close(),
  };
}
