// Readable log lines for a person at a terminal (`npm start` on a TTY): pino writes JSON lines, this turns each into
// "12:04:05 INFO  message  key=value …", coloured when the terminal is. pino-pretty is not a dependency and this
// needs a page of code. Anything that is not a JSON line passes through unchanged.
import { Writable } from 'node:stream';

const LEVELS: Record<number, { name: string; colour: number }> = {
  10: { name: 'TRACE', colour: 90 },
  20: { name: 'DEBUG', colour: 36 },
  30: { name: 'INFO ', colour: 32 },
  40: { name: 'WARN ', colour: 33 },
  50: { name: 'ERROR', colour: 31 },
  60: { name: 'FATAL', colour: 35 },
};

/** Fields every line has, or that the line shows in its own way. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v', 'req', 'res', 'err', 'reqId', 'responseTime']);

function value(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  return JSON.stringify(v) ?? String(v);
}

/** One JSON log line as a readable line (with an error's stack below it), or null when it is not one. */
export function prettyLine(line: string, colour: boolean): string | null {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof entry !== 'object' || entry === null) return null;
  const paint = (code: number, text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);
  const level = LEVELS[Number(entry.level)] ?? { name: String(entry.level).padEnd(5), colour: 0 };
  const time = new Date(typeof entry.time === 'number' ? entry.time : Date.now()).toTimeString().slice(0, 8);
  const parts = [paint(90, time), paint(level.colour, level.name), String(entry.msg ?? '')];
  const req = entry.req as { method?: string; url?: string } | undefined;
  const res = entry.res as { statusCode?: number } | undefined;
  if (req?.method) parts.push(`${req.method} ${req.url ?? ''}`);
  if (res?.statusCode) parts.push(String(res.statusCode));
  if (typeof entry.responseTime === 'number') parts.push(`${Math.round(entry.responseTime)} ms`);
  const fields = Object.entries(entry)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${paint(90, `${k}=`)}${value(v)}`);
  let out = [...parts, ...fields].filter(Boolean).join('  ');
  const err = entry.err as { stack?: string; message?: string } | undefined;
  if (err) out += `\n${paint(90, err.stack ?? err.message ?? JSON.stringify(err))}`;
  return `${out}\n`;
}

/** A stream for pino that writes readable lines to `out` (stdout). */
export function createPrettyLogStream(out: NodeJS.WriteStream = process.stdout): Writable {
  const colour = out.isTTY === true;
  let pending = '';
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      const text = lines
        .filter((l) => l.trim() !== '')
        .map((l) => prettyLine(l, colour) ?? `${l}\n`)
        .join('');
      if (text) out.write(text, () => done());
      else done();
    },
  });
}
