import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { AgentProcess } from '../support/agent-process.js';
import { freePort } from '../support/redis.js';
import { SAMPLE_DATA_FILE } from '../support/sample-data.js';

/**
 * Every `ts` and `bash` sample of the README runs here, so a broken sample fails CI. A block that
 * cannot run on a test machine (Docker, the test command itself) is preceded by
 * `<!-- sample: skip (reason) -->`, and the test checks that each skipped block says why.
 */
interface Sample {
  lang: 'ts' | 'bash';
  line: number;
  code: string;
  skip?: string;
}

function readmeSamples(): Sample[] {
  const lines = readFileSync(join(process.cwd(), 'README.md'), 'utf8').split('\n');
  const samples: Sample[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(ts|bash)\s*$/.exec(lines[i] ?? '');
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i] ?? '');
    const skip = /^<!-- sample: skip \((.+)\) -->$/.exec(lines[start - 1] ?? '')?.[1];
    samples.push({ lang: open[1] as 'ts' | 'bash', line: start + 1, code: body.join('\n'), skip });
  }
  return samples;
}

const WORK = join(process.cwd(), '.test-build', 'readme-samples');

function killGroup(pid: number | undefined): void {
  try {
    if (pid !== undefined) process.kill(-pid, 'SIGKILL');
  } catch {
    // the group is gone already
  }
}

/**
 * Runs a command in a process group of its own to its end (killed at the deadline); resolves to its
 * exit, output and pid. What it left running in the background goes on until killGroup(pid).
 */
function run(command: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<{ code: number | null; output: string; pid?: number }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      output += `\n[killed after ${timeoutMs} ms]`;
      killGroup(child.pid);
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output, pid: child.pid });
    });
  });
}

/**
 * Bash samples run in a shell where the long-running commands a reader starts in another terminal
 * (`npm start`, `npm run fake-featbit`) start in the background from the real package.json scripts
 * (the build step skipped: the test built dist/ once) and are waited for; curl fails on HTTP errors.
 */
const BASH_PRELUDE = String.raw`
set -euo pipefail
wait_http() { for _ in $(seq 1 300); do command curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "nothing answers $1" >&2; return 1; }
npm() {
  case "$*" in
    start) command npm start --ignore-scripts >>"$SAMPLE_LOG" 2>&1 & wait_http "http://127.0.0.1:$PORT/health/liveness" ;;
    "run fake-featbit") PORT=$FAKE_PORT node .test-build/test/support/fake-featbit/main.js >>"$SAMPLE_LOG" 2>&1 & wait_http "http://127.0.0.1:$FAKE_PORT/" ;;
    *) echo "the README test does not run 'npm $*'" >&2; return 1 ;;
  esac
}
curl() { command curl -sS --fail-with-body "$@"; echo; }
`;

describe('README samples', () => {
  const samples = readmeSamples();
  let agent: AgentProcess;

  before(async () => {
    mkdirSync(WORK, { recursive: true });
    if (!existsSync(join(process.cwd(), 'dist', 'main.js'))) {
      assert.equal(spawnSync('npm', ['run', 'build'], { stdio: 'ignore' }).status, 0, 'npm run build failed');
    }
    agent = await AgentProcess.start({ DATA_FILE: SAMPLE_DATA_FILE, MODE: 'offline' });
  });
  after(() => agent.kill());

  it('has samples, and every skipped one says why', () => {
    assert.ok(samples.filter((s) => s.skip === undefined).length >= 5, 'too few runnable samples found');
    for (const s of samples) if (s.skip !== undefined) assert.ok(s.skip.length > 10, `README line ${s.line}: say why the sample is skipped`);
  });

  for (const sample of readmeSamples().filter((s) => s.lang === 'ts' && s.skip === undefined)) {
    it(`runs the ts sample at README line ${sample.line} with the real SDK`, async () => {
      const code = sample.code.replaceAll('localhost:6100', `127.0.0.1:${agent.port}`);
      // CommonJS: the browser SDK's ESM build cannot be imported by Node; its CJS build can.
      const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
      const file = join(WORK, `sample-${sample.line}.cjs`);
      writeFileSync(file, `(async () => {\n${js}\n})().then(() => process.exit(0), (error) => { console.error(error); process.exit(1); });\n`);
      const globals = join(process.cwd(), '.test-build', 'test', 'support', 'browser-globals.js');
      const result = await run(process.execPath, ['--import', globals, file], {}, 20_000);
      killGroup(result.pid);
      assert.equal(result.code, 0, result.output);
      assert.doesNotMatch(result.output, /Error|error:/, result.output);
    });
  }

  for (const sample of readmeSamples().filter((s) => s.lang === 'bash' && s.skip === undefined)) {
    it(`runs the bash sample at README line ${sample.line}`, async () => {
      const port = await freePort();
      const fakePort = await freePort();
      const code = sample.code.replaceAll('localhost:6100', `localhost:${port}`).replaceAll('localhost:5100', `localhost:${fakePort}`);
      const file = join(WORK, `sample-${sample.line}.sh`);
      writeFileSync(file, `${BASH_PRELUDE}\n${code}\nwait_http "http://127.0.0.1:$PORT/health/readiness" || true\n`);
      const log = join(WORK, `sample-${sample.line}.log`);
      writeFileSync(log, '');
      const result = await run('bash', [file], { PORT: String(port), FAKE_PORT: String(fakePort), SAMPLE_LOG: log, LOG_LEVEL: 'warn' }, 60_000);
      try {
        const logs = (): string => readFileSync(log, 'utf8');
        assert.equal(result.code, 0, `${result.output}\n--- background processes:\n${logs()}`);
        // When the sample started an agent, it must have become ready (offline with data, or synced with FeatBit).
        if (/npm start/.test(sample.code)) {
          const readiness = await fetch(`http://127.0.0.1:${port}/health/readiness`).catch(() => undefined);
          assert.equal(readiness?.status, 200, `agent not ready:\n${logs()}`);
        }
      } finally {
        killGroup(result.pid);
      }
    });
  }
});
