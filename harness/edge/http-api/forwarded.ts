import { randomUUID } from 'node:crypto';
import type http from 'node:http';

/**
 * The request's headers as an API Gateway integration sees them: the client's, with Host the
 * API's domain name and the gateway's X-Forwarded-For/-Port/-Proto and X-Amzn-Trace-Id. HTTP
 * APIs write those names in lower case and set Content-Length from the body they read
 * (`bodyLength`); REST APIs write them capitalised (`canonicalNames`) and pass the client's
 * Content-Length on.
 */
export function forwardedHeaders(req: http.IncomingMessage, domainName: string, sourceIp: string, tls: boolean, opts: { bodyLength?: number; canonicalNames?: boolean } = {}): [string, string][] {
  const out: [string, string][] = [];
  const name = (lower: string, canonical: string) => (opts.canonicalNames ? canonical : lower);
  const dropLength = opts.bodyLength !== undefined;
  let forwardedFor: string | undefined;
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i]!;
    const lk = k.toLowerCase();
    if (lk === 'host' || lk === 'x-forwarded-port' || lk === 'x-forwarded-proto' || lk === 'x-amzn-trace-id' || lk === 'connection' || lk === 'transfer-encoding' || (dropLength && lk === 'content-length')) continue;
    if (lk === 'x-forwarded-for') {
      forwardedFor = forwardedFor ? `${forwardedFor}, ${req.rawHeaders[i + 1]}` : req.rawHeaders[i + 1];
      continue;
    }
    out.push([k, req.rawHeaders[i + 1]!]);
  }
  if (opts.bodyLength) out.push(['content-length', String(opts.bodyLength)]);
  out.push([name('host', 'Host'), domainName]);
  out.push([name('x-amzn-trace-id', 'X-Amzn-Trace-Id'), `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replace(/-/g, '').slice(0, 24)}`]);
  out.push([name('x-forwarded-for', 'X-Forwarded-For'), forwardedFor ? `${forwardedFor}, ${sourceIp}` : sourceIp]);
  out.push([name('x-forwarded-port', 'X-Forwarded-Port'), tls ? '443' : '80']);
  out.push([name('x-forwarded-proto', 'X-Forwarded-Proto'), tls ? 'https' : 'http']);
  return out;
}
