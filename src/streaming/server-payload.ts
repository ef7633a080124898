import type { StoreItem } from '../store/data-set.js';
import type { EnvState } from '../store/memory-data.js';
import { SharedFrame } from './fan-out.js';

/** Server SDK `data-sync` messages (protocol §2.7, §3.2), built from cached item JSON. */

const itemText = new WeakMap<StoreItem, string>();

/** The item's JSON text, serialised once per stored item. */
export function itemJson(item: StoreItem): string {
  let text = itemText.get(item);
  if (text === undefined) {
    text = JSON.stringify(item.json);
    itemText.set(item, text);
  }
  return text;
}

function join(items: Iterable<StoreItem>): string {
  let out = '';
  for (const item of items) out += (out === '' ? '' : ',') + itemJson(item);
  return out;
}

function message(eventType: 'full' | 'patch', flags: string, segments: string): string {
  return `{"messageType":"data-sync","data":{"eventType":"${eventType}","featureFlags":[${flags}],"segments":[${segments}]}}`;
}

export const EMPTY_SERVER_PATCH = message('patch', '', '');
const EMPTY_SERVER_FULL = message('full', '', '');

/** Full payload of an environment; cached until the env changes. */
export function serverFullMessage(env: EnvState | undefined): string {
  if (!env) return EMPTY_SERVER_FULL;
  return env.cached('server-full', (e) => message('full', join(e.flags.values()), join(e.segments.values())));
}

/** Full payload as bytes, for fan-out and HTTP; cached with the string. */
export function serverFullBytes(env: EnvState | undefined): Buffer {
  if (!env) return Buffer.from(EMPTY_SERVER_FULL);
  return env.cached('server-full-bytes', (e) => Buffer.from(serverFullMessage(e)));
}

let emptyFullFrame: SharedFrame | undefined;

/** Full payload as one WebSocket frame, for pushes and for every SDK asking for it; cached with the string. */
export function serverFullFrame(env: EnvState | undefined): SharedFrame {
  if (!env) return (emptyFullFrame ??= new SharedFrame(EMPTY_SERVER_FULL));
  return env.cached('server-full-frame', (e) => new SharedFrame(serverFullBytes(e)));
}

/** Items with `updatedAt` strictly after `since`; null when there are none. */
export function serverPatchMessage(env: EnvState | undefined, since: number): string | null {
  if (!env) return null;
  const flags = [...env.flags.values()].filter((f) => f.timestamp > since);
  const segments = [...env.segments.values()].filter((s) => s.timestamp > since);
  if (flags.length === 0 && segments.length === 0) return null;
  return message('patch', join(flags), join(segments));
}

/** A push of changed items (§2.9). */
export function serverChangeMessage(flags: StoreItem[], segments: StoreItem[]): string {
  return message('patch', join(flags), join(segments));
}
