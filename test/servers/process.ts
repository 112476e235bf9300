// Small process helpers shared by the test-server modules: run a command without a shell, poll for a
// condition, and stop a daemon by PID (and its process group) while waiting for it to really be gone.
// Daemons are not always our children (and PID 1 here reaps orphans late), so exit is read from /proc.

import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the child's stdin, which is then closed. */
  input?: string | Buffer;
  /** Exit codes that count as success (default [0]). */
  okCodes?: number[];
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Runs `file` with `args` (no shell, so arguments need no quoting) and collects its output. */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const okCodes = opts.okCodes ?? [0];
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      timeout: opts.timeoutMs ?? 30_000,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.once('error', reject);
    // A child that exits without reading its stdin would otherwise surface EPIPE as an uncaught error.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input);
    child.once('close', (code, signal) => {
      const result: RunResult = {
        code: code ?? -1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (code !== null && okCodes.includes(code)) {
        resolve(result);
        return;
      }
      const how = signal !== null ? `signal ${signal}` : `exit code ${String(code)}`;
      reject(
        Object.assign(
          new Error(`${file} ${args.join(' ')} failed (${how}): ${result.stderr.trim() || result.stdout.trim()}`),
          {
            result,
          },
        ),
      );
    });
  });
}

/**
 * Polls `check` until it returns something other than `undefined`, or throws after `timeoutMs`.
 * Errors thrown by `check` count as "not yet" (the last one is reported on timeout), unless they carry
 * `fatal: true`, which ends the wait at once.
 */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 10_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      // A check can declare that waiting longer is pointless (e.g. the server process died).
      if ((error as { fatal?: unknown }).fatal === true) throw error;
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}

type ProcState = 'running' | 'zombie' | 'gone';

async function procStat(pid: number): Promise<{ state: string; pgid: number } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself contain spaces or ')': split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '?', pgid: Number(rest[2]) };
  } catch {
    return undefined;
  }
}

/** Whether `pid` still runs. A zombie has exited: only its parent's wait() is missing. */
export async function processState(pid: number): Promise<ProcState> {
  const stat = await procStat(pid);
  if (stat === undefined) return 'gone';
  return stat.state === 'Z' || stat.state === 'X' ? 'zombie' : 'running';
}

/** PIDs of live (non-zombie) processes in process group `pgid`. */
export async function liveGroupMembers(pgid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await procStat(Number(name));
    if (stat !== undefined && stat.pgid === pgid && stat.state !== 'Z' && stat.state !== 'X') pids.push(Number(name));
  }
  return pids;
}

/** Resolves true once `pid` has exited (or is a zombie), false after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  try {
    await pollUntil(`pid ${pid} to exit`, async () => ((await processState(pid)) === 'running' ? undefined : true), {
      timeoutMs,
      intervalMs: 25,
    });
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * Stops a daemon that leads its own process group (spawned `detached`): SIGTERM to the whole group,
 * wait for the leader, make sure the helpers it forked are gone too; SIGKILL the group as a last resort.
 * (SIGTERM to Dovecot's master alone takes ~1.1 s: it waits for its children. To the group: ~30 ms.)
 */
export async function terminateGroup(pid: number, { graceMs = 10_000 }: { graceMs?: number } = {}): Promise<void> {
  signal(-pid, 'SIGTERM');
  let clean = await waitForExit(pid, graceMs);
  if (clean) {
    // Children may outlive the leader by a moment.
    const deadline = Date.now() + 2_000;
    while ((await liveGroupMembers(pid)).length > 0 && Date.now() < deadline) await sleep(25);
    clean = (await liveGroupMembers(pid)).length === 0;
  }
  if (!clean) {
    signal(-pid, 'SIGKILL');
    if (!(await waitForExit(pid, 5_000))) throw new Error(`pid ${pid} survived SIGKILL`);
  }
}

/** Synchronous last resort for process 'exit' hooks: kill the group, no waiting possible there. */
export function killGroupSync(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Synchronous, never-throwing recursive delete for process 'exit' hooks. */
export function rmQuietly(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    // Best effort: the process is exiting anyway.
  }
}
