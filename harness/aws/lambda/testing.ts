import { AwsError } from '../protocol/errors.ts';
import { serializeJson } from '../protocol/json.ts';
import { matchRoute, restRequest, type RestJsonProvider } from '../protocol/rest.ts';
import type { RequestContext } from '../protocol/types.ts';
import type { FunctionRunner, RunOutcome } from './invoke.ts';
import type { FunctionRunSpec } from './store.ts';
import { writeZip } from './zip.ts';

/** A Node deployment package whose handler returns `body` (tests). */
export function nodePackage(body = 'event'): Buffer {
  return writeZip([{ name: 'index.mjs', data: `export const handler = async (event) => (${body});\n` }]);
}

/**
 * A runner that does not run code: it echoes the payload (or fails when the payload asks with
 * `{"fail":"…"}`) and remembers each spec it was given (tests).
 */
export function echoRunner(): FunctionRunner & { calls: { spec: FunctionRunSpec; payload: string; requestId: string }[] } {
  const calls: { spec: FunctionRunSpec; payload: string; requestId: string }[] = [];
  return {
    calls,
    async invoke(spec, payload, opts): Promise<RunOutcome> {
      calls.push({ spec, payload: payload.toString(), requestId: opts.requestId });
      const event = JSON.parse(payload.toString() || '{}');
      const log = `START RequestId: ${opts.requestId} Version: ${spec.version}\necho ${spec.functionName}\nEND RequestId: ${opts.requestId}\n`;
      if (event && typeof event.fail === 'string') {
        return { payload: Buffer.from(JSON.stringify({ errorType: 'Error', errorMessage: event.fail, trace: [] })), functionError: 'Unhandled', durationMs: 2, logTail: log };
      }
      return { payload: Buffer.from(JSON.stringify({ echo: event, version: spec.version, codeSha256: spec.codeSha256 })), durationMs: 1, logTail: log };
    },
  };
}

export interface CallResult {
  status: number;
  headers: Record<string, string>;
  /** the JSON answer, or the raw payload (Invoke) */
  body?: any;
  error?: string;
  message?: string;
}

/** Calls one operation of a restJson1 provider the way the edge does, without HTTP (unit tests). */
export async function callRest(p: RestJsonProvider, method: string, url: string, body?: unknown, headers: Record<string, string> = {}, ctx?: Partial<RequestContext>): Promise<CallResult> {
  const raw = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const context: RequestContext = { requestId: ctx?.requestId ?? `req-${Math.random().toString(16).slice(2, 10)}`, region: 'us-west-1', account: '123456789012', signingName: p.serviceName, ...ctx };
  try {
    const { route, params } = matchRoute(p, method, url.split('?')[0]!);
    const op = p.operations[route.operation]!;
    const out = await op(restRequest(method, url, headers, raw, params), context);
    const isRaw = Buffer.isBuffer(out.body) || typeof out.body === 'string';
    return { status: out.status ?? 200, headers: out.headers ?? {}, body: out.body === undefined ? undefined : isRaw ? out.body : JSON.parse(serializeJson(out.body)) };
  } catch (e) {
    if (e instanceof AwsError) return { status: e.statusCode, headers: {}, error: e.code, message: e.message };
    throw e;
  }
}
