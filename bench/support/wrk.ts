/**
 * HTTP load from `wrk` in its own process, pinned to the load core. Request method, headers and
 * body come from a generated Lua script, so POST bodies are sent byte for byte.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOAD_CORE, spawnPinned } from './pinned.js';

export interface HttpTarget {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadResult {
  rps: number;
  /** Responses wrk completed in the run. */
  requests: number;
  /** Latency percentiles in ms. */
  p50: number;
  p99: number;
  /** Socket errors plus non-2xx answers. */
  errors: number;
}

const WRK = process.env['WRK'] ?? 'wrk';
const scripts = new Map<string, string>();
let scriptDir: string | undefined;

function luaString(value: string): string {
  // At least one `=`: a value ending in `]` would otherwise close `[[ ]]` early.
  let level = '=';
  while (value.includes(`]${level}]`)) level += '=';
  // A long bracket drops a first newline; a leading newline is kept by doubling it.
  return `[${level}[${value.startsWith('\n') ? '\n' : ''}${value}]${level}]`;
}

/** The Lua script setting method, headers and body of every request. */
function scriptFor(target: HttpTarget): string {
  const lua = [`wrk.method = "${target.method ?? 'GET'}"`];
  for (const [name, value] of Object.entries(target.headers ?? {})) lua.push(`wrk.headers[ ${luaString(name)} ] = ${luaString(value)}`);
  if (target.body !== undefined) lua.push(`wrk.body = ${luaString(target.body)}`);
  const text = lua.join('\n') + '\n';
  let file = scripts.get(text);
  if (!file) {
    scriptDir ??= mkdtempSync(join(tmpdir(), 'bench-wrk-'));
    file = join(scriptDir, `target-${scripts.size}.lua`);
    writeFileSync(file, text);
    scripts.set(text, file);
  }
  return file;
}

function ms(value: string, unit: string): number {
  const n = Number(value);
  if (unit === 'us') return n / 1000;
  if (unit === 's') return n * 1000;
  if (unit === 'm') return n * 60_000;
  return n;
}

export function parseWrk(output: string): LoadResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  if (!rps) throw new Error(`wrk printed no rate:\n${output}`);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(output);
    return m ? ms(m[1]!, m[2]!) : Number.NaN;
  };
  const total = /(\d+) requests in /.exec(output);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  const errors = (socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  return { rps: Number(rps[1]), requests: total ? Number(total[1]) : Number.NaN, p50: pct('50'), p99: pct('99'), errors };
}

/** One `wrk -t1 -c<connections> -d<seconds>s --latency` run on the load core. */
export async function wrk(target: HttpTarget, seconds: number, connections: number): Promise<LoadResult> {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', scriptFor(target), target.url];
  const child = spawnPinned(LOAD_CORE, WRK, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let errors = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  // wrk keeps running (without the script) when its Lua script fails: treat that as a failure.
  if (code !== 0 || errors.trim() !== '') throw new Error(`wrk exited with ${code}:\n${output}${errors}`);
  return parseWrk(output);
}
