import { connect } from 'node:net';
import type { Socket } from 'node:net';

/**
 * A raw HTTP/1.1 keep-alive client for tests: requests written straight to one socket, responses
 * parsed as they arrive (Content-Length or chunked bodies), so a test sees exactly what a
 * connection pool sees: whether the next request on the same connection gets an answer, and
 * whether the server closed the connection.
 */
export interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export class KeepAliveClient {
  readonly socket: Socket;
  private buffer = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  closed = false;
  readonly closedAt: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiting?.();
    });
    socket.on('error', () => undefined);
    this.closedAt = new Promise((resolve) => socket.once('close', () => {
      this.closed = true;
      this.waiting?.();
      resolve();
    }));
  }

  static async open(base: string): Promise<KeepAliveClient> {
    const { hostname, port } = new URL(base);
    const socket = connect({ host: hostname, port: Number(port) });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new KeepAliveClient(socket);
  }

  /** Write bytes; resolves when they are handed to the kernel, or false when the server is gone. */
  write(bytes: string | Uint8Array): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || !this.socket.writable) return resolve(false);
      this.socket.write(bytes, (error) => resolve(!error));
    });
  }

  /** The next response on this connection, or undefined when the connection closes (or `ms` pass) first. */
  async response(ms = 5000): Promise<RawReply | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      const parsed = this.parse();
      if (parsed) return parsed;
      if (this.closed || Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiting = () => { clearTimeout(timer); resolve(); };
      });
      this.waiting = undefined;
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private parse(): RawReply | undefined {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const [statusLine, ...lines] = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const at = line.indexOf(':');
      headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
    }
    const status = Number(statusLine!.split(' ')[1]);
    let rest = this.buffer.subarray(end + 4);
    let body: Buffer;
    if (headers['transfer-encoding'] === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd < 0) return undefined;
        const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
        if (rest.length < lineEnd + 2 + size + 2) return undefined;
        parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
        rest = rest.subarray(lineEnd + 2 + size + 2);
        if (size === 0) break;
      }
      body = Buffer.concat(parts);
    } else {
      const length = Number(headers['content-length'] ?? 0);
      if (rest.length < length) return undefined;
      body = Buffer.from(rest.subarray(0, length));
      rest = rest.subarray(length);
    }
    this.buffer = Buffer.from(rest);
    return { status, headers, body };
  }
}

/** A chunked request head. */
export function chunkedHead(method: string, path: string, host: string, headers: Record<string, string>): string {
  return `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

export function chunk(bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), Buffer.from(bytes), Buffer.from('\r\n')]);
}
