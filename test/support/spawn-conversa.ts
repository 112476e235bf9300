// `conversa serve` as a child process (the built CLI), for tests that must kill it for real.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { TEST_ALLOWED_HOSTS } from './outbound.js';

export const CLI = path.resolve('dist/src/cli.js');

/**
 * How long a child gets to say it runs. It takes ~1.6 s on a quiet machine and ~6 s beside six CPU burners on two
 * cores; a loaded CI machine (several test files at once, each with its servers) once took more than 20 s.
 */
const START_WAIT_MS = 60_000;

export interface SpawnedConversa {
  url: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM and wait: resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no shutdown code runs, as in a crash or the OOM killer. */
  kill(): Promise<void>;
}

export function spawnConversa(env: NodeJS.ProcessEnv, command: 'serve' | 'worker' = 'serve'): Promise<SpawnedConversa> {
  const child = spawn(process.execPath, [CLI, command], {
    env: {
      ...process.env,
      PORT: '0',
      BCC_SMTP_PORT: '0',
      CONVERSA_ALLOWED_HOSTS: TEST_ALLOWED_HOSTS,
      CONVERSA_CHECK_RESPONSES: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ready =
    command === 'serve' ? /Server listening at (http:\/\/127\.0\.0\.1:\d+)/ : /(Conversa worker is running)/;
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${command} did not start within ${START_WAIT_MS} ms:\n${output}`)),
      START_WAIT_MS,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = ready.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
        child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
        resolve({
          url: match[1]!,
          child,
          output: () => output,
          stop: async () => {
            child.kill('SIGTERM');
            return exited;
          },
          kill: async () => {
            child.kill('SIGKILL');
            await exited;
          },
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code}:\n${output}`));
    });
  });
}
