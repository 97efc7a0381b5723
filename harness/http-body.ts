import type http from 'node:http';

/**
 * A request's whole body, at most `limit` bytes. Past the limit it rejects with an Error whose
 * `code` is 'E2BIG'; the rest of the body is drained (so the caller can still answer, e.g.
 * 413) or, with `overflow: 'destroy'`, the connection is dropped.
 */
export function readBody(req: http.IncomingMessage, limit: number, overflow: 'drain' | 'destroy' = 'drain'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > limit) {
        over = true;
        reject(Object.assign(new Error('request body too large'), { code: 'E2BIG' }));
        if (overflow === 'destroy') req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
