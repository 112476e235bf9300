import { createServer } from 'node:net';
import { it } from 'vitest';
import { ImapFlow } from 'imapflow';
it('debug', async () => {
  const server = createServer((s) => { s.on('error', () => {}); s.write('SSH-2.0-OpenSSH_9.6\r\nProtocol mismatch.\r\n'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as any).port;
  const client = new ImapFlow({ host: '127.0.0.1', port, secure: false, logger: false, greetingTimeout: 1000, connectionTimeout: 1000, socketTimeout: 1500, emitLogs: true, auth: { user: 'a', pass: 'b' } });
  client.on('error', (e) => console.log('error event', e));
  client.on('log', (e) => console.log('log', JSON.stringify(e)));
  try { await client.connect(); } catch (e: any) { console.log('CAUGHT', e, e.code, Object.keys(e)); }
  client.close();
  server.close();
});
