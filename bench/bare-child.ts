/**
 * The bare baselines of the HTTP benches each run in a child of their own (forked from the bench's
 * file): the child listens on 127.0.0.1, says its URL, and closes when told to stop.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';

/** In the child: listen on a free port of 127.0.0.1, send the parent the URL, close on 'stop'. */
export function serveToParent(server: Server): void {
  server.listen({ host: '127.0.0.1', port: 0 }, () => {
    const address = server.address();
    process.send!({ url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` });
  });
  process.on('message', (m) => {
    if (m === 'stop') server.close(() => process.disconnect());
  });
}

/** In the parent: fork `file` with `args`; resolves once the child serves, with its URL. */
export async function forkServer(file: string, args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(file, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`the bare server exited (${code})`)));
  });
  return { child, url };
}

/** Stop a child forkServer started (if it still runs) and wait for its exit. */
export async function stopServer(child: ChildProcess | undefined): Promise<void> {
  if (!child?.connected) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.send('stop');
  await exited;
}
