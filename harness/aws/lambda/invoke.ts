import { AwsError } from '../protocol/errors.ts';
import type { EventSink } from '../protocol/types.ts';
import { lambdaErrors } from './errors.ts';
import type { FunctionRunSpec, LambdaStore, ResolvedTarget } from './store.ts';

/** What the control plane needs of the code runner (runtime/lambda's LambdaRuntime satisfies it). */
export interface FunctionRunner {
  invoke(spec: FunctionRunSpec, payload: Buffer, opts: { requestId: string; tail?: boolean; clientContext?: string }): Promise<RunOutcome>;
}

export interface RunOutcome {
  payload: Buffer;
  functionError?: string;
  /** the invocation's log (plain text); Invoke sends its last 4 KB base64-encoded */
  logTail?: string;
  initDurationMs?: number;
  durationMs: number;
}

export type InvocationType = 'RequestResponse' | 'Event' | 'DryRun';

/** An invocation's answer, as Invoke reports it. */
export interface InvocationResult {
  /** 200 RequestResponse, 202 Event, 204 DryRun */
  statusCode: number;
  functionError?: string;
  payload: Buffer;
  executedVersion: string;
  /** base64 of the log's last 4 KB (`--log-type Tail`) */
  logResult?: string;
}

export interface InvokeOptions {
  type: InvocationType;
  requestId: string;
  tail?: boolean;
  clientContext?: string;
  /** the service principal invoking on the caller's behalf (API Gateway), for the event log */
  principal?: string;
  /** picks an alias's weighted version (tests) */
  random?: () => number;
}

const TAIL_BYTES = 4096;

/** The last 4 KB of a log, base64-encoded, as X-Amz-Log-Result carries it. */
export function logResultOf(text: string): string {
  const b = Buffer.from(text, 'utf8');
  return b.subarray(Math.max(0, b.length - TAIL_BYTES)).toString('base64');
}

/**
 * Runs one invocation of a resolved function, version or alias: routes an alias, refuses a
 * function that is not Active, hands the live code's spec to the runner and appends
 * `lambda.invoke` (requestId, version, the CodeSha256 that ran, duration, error) to the event log. Event invocations are
 * answered 202 at once and run in the background; DryRun runs nothing (204).
 */
export async function invokeTarget(store: LambdaStore, runner: FunctionRunner, events: EventSink | undefined, t: ResolvedTarget, payload: Buffer, opts: InvokeOptions): Promise<InvocationResult> {
  const version = t.alias ? store.routeAlias(t.alias, opts.random) : t.version.version;
  const spec = store.runSpec(t, version);
  if (opts.type === 'DryRun') return { statusCode: 204, payload: Buffer.alloc(0), executedVersion: version };
  // codeSha256: the code that ran (for $LATEST the live code, the previous one while an update is InProgress)
  const base = { functionName: t.fn.name, arn: t.arn, version, codeSha256: spec.codeSha256, requestId: opts.requestId, invocationType: opts.type, ...(opts.principal ? { principal: opts.principal } : {}) };
  const run = async () => {
    const started = Date.now();
    try {
      const out = await runner.invoke(spec, payload, { requestId: opts.requestId, ...(opts.tail ? { tail: true } : {}), ...(opts.clientContext ? { clientContext: opts.clientContext } : {}) });
      events?.append('lambda.invoke', {
        ...base,
        durationMs: out.durationMs,
        ...(out.initDurationMs !== undefined ? { initDurationMs: out.initDurationMs } : {}),
        ...(out.functionError ? { error: out.functionError } : {}),
      });
      return out;
    } catch (err) {
      const e = err instanceof AwsError ? err : lambdaErrors.service(`The function could not be run: ${(err as Error)?.message ?? String(err)}`);
      events?.append('lambda.invoke', { ...base, durationMs: Date.now() - started, error: e.code, message: e.message });
      throw e;
    }
  };
  if (opts.type === 'Event') {
    run().catch(() => {
      /* recorded on the event log; Event invocations have no caller to tell */
    });
    return { statusCode: 202, payload: Buffer.alloc(0), executedVersion: version };
  }
  const out = await run();
  return {
    statusCode: 200,
    payload: out.payload,
    executedVersion: version,
    ...(out.functionError ? { functionError: out.functionError } : {}),
    ...(opts.tail ? { logResult: logResultOf(out.logTail ?? '') } : {}),
  };
}
