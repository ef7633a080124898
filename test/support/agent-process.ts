import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from './redis.js';
import { RELAY_PROXY_KEY } from './sample-data.js';

/** The agent as a real process (`.test-build/src/main.js`), configured only by environment variables. */
export class AgentProcess {
  private output = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
  }

  static async start(env: Record<string, string>): Promise<AgentProcess> {
    const port = await freePort();
    const child = spawn(process.execPath, [join(process.cwd(), '.test-build', 'src', 'main.js')], {
      env: { PATH: process.env['PATH'] ?? '', PORT: String(port), HOST: '127.0.0.1', API_KEY: RELAY_PROXY_KEY, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const agent = new AgentProcess(child, port);
    // Generous: on a loaded two-core machine a Nest start has taken more than 15 s; ends once alive.
    await agent.until(async () => (await fetch(`${agent.httpUrl}/health/liveness`).catch(() => null))?.status === 200, 60_000);
    return agent;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get logs(): string {
    return this.output;
  }

  async status(): Promise<Record<string, unknown>> {
    const response = await fetch(`${this.httpUrl}/api/public/proxy/status`, { headers: { authorization: RELAY_PROXY_KEY } });
    return (await response.json()) as Record<string, unknown>;
  }

  async readiness(): Promise<[number, string]> {
    const response = await fetch(`${this.httpUrl}/health/readiness`);
    return [response.status, await response.text()];
  }

  /** Polls until `check` holds; the process gives no event to wait on. */
  async until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`agent exited (${this.child.exitCode ?? this.child.signalCode}):\n${this.output}`);
      }
      if (await check().catch(() => false)) return;
      if (Date.now() > end) throw new Error(`condition not met in ${timeoutMs} ms; agent output:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Sends `signal` and returns at once (SIGSTOP and SIGCONT freeze and thaw the agent). */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill(signal);
    });
  }
}
