import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One `FROM` stage of a Dockerfile, with what the runtime takes from it. */
export interface DockerStage {
  from: string;
  name?: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  user?: string;
  workdir: string;
  cmd?: string[];
  entrypoint?: string[];
  volumes: string[];
  expose: string[];
  /** `COPY`/`ADD` sources taken from the build context (not `--from`). */
  contextSources: string[];
  /** Every instruction, keyword upper-cased, continuation lines joined. */
  instructions: { keyword: string; args: string }[];
}

/** Splits on spaces outside double quotes and drops the quotes (enough for ENV, LABEL, ARG). */
function words(text: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  let any = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && quoted && i + 1 < text.length) {
      current += text[++i];
    } else if (c === '"') {
      quoted = !quoted;
      any = true;
    } else if (/\s/.test(c) && !quoted) {
      if (any || current) out.push(current);
      current = '';
      any = false;
    } else {
      current += c;
      any = true;
    }
  }
  if (any || current) out.push(current);
  return out;
}

function pairs(text: string, vars: Record<string, string>): Record<string, string> {
  const tokens = words(text);
  if (tokens.length > 0 && !tokens[0]!.includes('=')) {
    // Legacy form: `ENV KEY value with spaces`.
    return { [tokens[0]!]: substitute(tokens.slice(1).join(' '), vars) };
  }
  const out: Record<string, string> = {};
  for (const token of tokens) {
    const at = token.indexOf('=');
    if (at <= 0) throw new Error(`cannot parse "${token}" in "${text}"`);
    out[token.slice(0, at)] = substitute(token.slice(at + 1), vars);
  }
  return out;
}

function substitute(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)/g, (_, a: string | undefined, fallback: string | undefined, b: string | undefined) => {
    const name = (a ?? b)!;
    return vars[name] ?? fallback ?? '';
  });
}

function execForm(args: string): string[] {
  const trimmed = args.trim();
  if (trimmed.startsWith('[')) return JSON.parse(trimmed) as string[];
  return ['/bin/sh', '-c', trimmed];
}

/** Parses a Dockerfile into its stages; the last one is the image that runs. */
export function parseDockerfile(text: string): DockerStage[] {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    pending += line;
    if (pending.trim()) lines.push(pending.trim());
    pending = '';
  }
  const globalArgs: Record<string, string> = {};
  const stages: DockerStage[] = [];
  let stage: DockerStage | undefined;
  let vars: Record<string, string> = {};
  for (const line of lines) {
    const space = line.search(/\s/);
    const keyword = (space < 0 ? line : line.slice(0, space)).toUpperCase();
    const args = space < 0 ? '' : line.slice(space + 1).trim();
    if (keyword === 'FROM') {
      const [image = '', as, name] = words(substitute(args, globalArgs));
      stage = { from: image, name: as?.toUpperCase() === 'AS' ? name : undefined, env: {}, labels: {}, workdir: '/', volumes: [], expose: [], contextSources: [], instructions: [] };
      stages.push(stage);
      vars = {};
      continue;
    }
    if (!stage) {
      if (keyword === 'ARG') Object.assign(globalArgs, argOf(args, {}));
      continue;
    }
    stage.instructions.push({ keyword, args });
    const scope = { ...vars, ...stage.env };
    switch (keyword) {
      case 'ARG': {
        const [name = ''] = args.split('=');
        vars[name] = argOf(args, globalArgs)[name] ?? '';
        break;
      }
      case 'ENV':
        Object.assign(stage.env, pairs(args, scope));
        break;
      case 'LABEL':
        Object.assign(stage.labels, pairs(args, scope));
        break;
      case 'USER':
        stage.user = substitute(args, scope);
        break;
      case 'WORKDIR': {
        const dir = substitute(args, scope);
        stage.workdir = dir.startsWith('/') ? dir : join(stage.workdir, dir);
        break;
      }
      case 'CMD':
        stage.cmd = execForm(args);
        break;
      case 'ENTRYPOINT':
        stage.entrypoint = execForm(args);
        break;
      case 'VOLUME':
        stage.volumes.push(...(args.startsWith('[') ? (JSON.parse(args) as string[]) : words(args)));
        break;
      case 'EXPOSE':
        stage.expose.push(...words(args));
        break;
      case 'COPY':
      case 'ADD': {
        const parts = words(args);
        if (parts.some((p) => p.startsWith('--from='))) break;
        const paths = parts.filter((p) => !p.startsWith('--'));
        stage.contextSources.push(...paths.slice(0, -1));
        break;
      }
      default:
        break;
    }
  }
  return stages;
}

/** `ARG NAME=default`: the global default wins when one was declared before FROM. */
function argOf(args: string, globals: Record<string, string>): Record<string, string> {
  const at = args.indexOf('=');
  const name = at < 0 ? args.trim() : args.slice(0, at).trim();
  const value = at < 0 ? undefined : args.slice(at + 1).trim().replace(/^"(.*)"$/, '$1');
  return { [name]: value ?? globals[name] ?? '' };
}

export function readDockerfile(path = join(process.cwd(), 'Dockerfile')): DockerStage[] {
  return parseDockerfile(readFileSync(path, 'utf8'));
}

/** The image that runs: the last stage. */
export function runtimeStage(path?: string): DockerStage {
  const stages = readDockerfile(path);
  const last = stages.at(-1);
  if (!last) throw new Error('Dockerfile has no FROM');
  return last;
}

/** Numeric uid and gid of a `USER` line; the node images' `node` user is 1000:1000. */
export function userIds(user: string | undefined): { uid: number; gid: number } {
  const known: Record<string, number> = { root: 0, node: 1000 };
  const [u = 'root', g] = (user ?? 'root').split(':');
  const uid = /^\d+$/.test(u) ? Number(u) : known[u];
  if (uid === undefined) throw new Error(`unknown user ${u}`);
  const gid = g === undefined ? uid : /^\d+$/.test(g) ? Number(g) : known[g];
  if (gid === undefined) throw new Error(`unknown group ${g}`);
  return { uid, gid };
}
