import { Agent, request } from 'node:http';

/**
 * A plain HTTP/1.1 client for the cluster tests: the whole answer, or an error when the connection
 * failed or the body came short of its Content-Length (as it does when a node dies mid-answer).
 */

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export const keepAliveAgent = new Agent({ keepAlive: true, maxSockets: 512 });

export function send(url: string, options: { method?: string; headers?: Record<string, string>; body?: Uint8Array; timeoutMs?: number; agent?: Agent } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: { ...options.headers, ...(options.body ? { 'content-length': String(options.body.length) } : {}) }, agent: options.agent ?? keepAliveAgent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('the answer was cut off')));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const declared = res.headers['content-length'];
        if (!res.complete) return reject(new Error('the answer was cut off'));
        if (declared !== undefined && options.method !== 'HEAD' && Number(declared) !== body.length) return reject(new Error(`the answer was cut off at ${body.length} of ${declared} bytes`));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
    req.setTimeout(options.timeoutMs ?? 60_000, () => req.destroy(new Error(`no answer within ${options.timeoutMs ?? 60_000} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}
