/**
 * The path live progress takes from a vitest worker (where scenarios run, and whose stdout is
 * vitest's) to the `harness scenario` process that owns the terminal: the parent listens on a
 * Unix socket and names it in HARNESS_PROGRESS_SOCKET; in the worker, Scenario.start forwards
 * the events progress.ts reads as JSON lines. The forwarder never slows or fails the run: no
 * socket, a refused connection or a parent gone make it a no-op, and it drops messages rather
 * than buffer without bound.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { EventLog, TimelineEvent } from '../events.ts';
import { progressEventOf } from './progress.ts';

export const PROGRESS_SOCKET_ENV = 'HARNESS_PROGRESS_SOCKET';

/** Past this much unsent output the forwarder drops messages (a stalled reader never holds the run). */
const MAX_BUFFERED = 1024 * 1024;

export interface ProgressForwarder {
  /** false when there is no socket to send to (or it went away) */
  readonly active: boolean;
  send(e: TimelineEvent): void;
  /** a bring-up step line (done: a milestone ending the step before it) */
  step(text: string, done?: boolean): void;
  close(): void;
  /** settles when the connection is gone (closed, refused, or never made) */
  readonly closed: Promise<void>;
}

/** A forwarder to the socket (undefined: a no-op one). Connects in the background. */
export function connectProgress(socketPath: string | undefined): ProgressForwarder {
  if (!socketPath) return { active: false, send() {}, step() {}, close() {}, closed: Promise.resolve() };
  let dead = false;
  let sock: net.Socket | undefined;
  let settle: () => void = () => {};
  const closed = new Promise<void>((r) => (settle = r));
  try {
    sock = net.createConnection(socketPath);
    sock.unref();
    sock.on('error', () => {
      dead = true;
      sock?.destroy();
    });
    sock.on('close', () => {
      dead = true;
      settle();
    });
  } catch {
    dead = true;
    settle();
  }
  const send = (e: TimelineEvent) => {
    if (dead || !sock || sock.destroyed || sock.writableEnded) return;
    if (sock.writableLength > MAX_BUFFERED) return;
    try {
      sock.write(JSON.stringify(e) + '\n');
    } catch {
      dead = true;
    }
  };
  return {
    get active() {
      return !dead;
    },
    send,
    step(text: string, done?: boolean) {
      send({ t: Date.now(), seq: -1, type: 'progress.step', text, ...(done ? { done: true } : {}) });
    },
    close() {
      if (!dead && sock && !sock.destroyed) sock.end();
      dead = true;
    },
    closed,
  };
}

/**
 * Forwards what progress reads from an event log until `harness.down` (then closes). Returns
 * the detach function.
 */
export function forwardEvents(events: EventLog, fwd: ProgressForwarder): () => void {
  const onEvent = (e: TimelineEvent) => {
    const slim = progressEventOf(e);
    if (slim) fwd.send(slim);
    if (e.type === 'harness.down') detach();
  };
  const detach = () => {
    events.off('event', onEvent);
    fwd.close();
  };
  if (fwd.active) events.on('event', onEvent);
  return detach;
}

export interface ProgressListener {
  /** the socket's path (for HARNESS_PROGRESS_SOCKET) */
  path: string;
  close(): Promise<void>;
}

/**
 * Listens on a fresh Unix socket in os.tmpdir(); every JSON line a forwarder sends is handed to
 * onEvent in the order sent (lines that do not parse are skipped). `conn` numbers connections.
 */
export async function listenProgress(onEvent: (e: TimelineEvent, conn: number) => void, dir = os.tmpdir()): Promise<ProgressListener> {
  const file = path.join(dir, `escher-harness-progress-${process.pid}-${Math.random().toString(16).slice(2, 8)}.sock`);
  fs.rmSync(file, { force: true });
  let next = 0;
  const conns = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    const conn = ++next;
    conns.add(sock);
    let buf = '';
    const take = (line: string) => {
      if (!line.trim()) return;
      let e: TimelineEvent;
      try {
        e = JSON.parse(line) as TimelineEvent;
      } catch {
        return;
      }
      if (e && typeof e === 'object' && typeof e.type === 'string') onEvent(e, conn);
    };
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        take(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    sock.on('end', () => take(buf));
    sock.on('error', () => {});
    sock.on('close', () => conns.delete(sock));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => resolve());
  });
  server.unref();
  return {
    path: file,
    close: async () => {
      // what a writer sent before it went away is read first (bounded: a live writer is cut off)
      const open = [...conns].map((c) => new Promise<void>((r) => c.once('close', () => r())));
      await Promise.race([Promise.all(open), new Promise((r) => setTimeout(r, 500).unref())]);
      for (const c of conns) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(file, { force: true });
    },
  };
}
