import type { Clock } from '../../clock.ts';
import type { FunctionInvoker, InvokeResult } from '../../aws/serverless.ts';

export type IntegrationOutcome = { kind: 'ok'; result: InvokeResult } | { kind: 'timeout' } | { kind: 'error'; error: string };

/**
 * An AWS_PROXY integration's call to Lambda, as apigateway.amazonaws.com from `sourceArn`, raced
 * against its budget: the function's real run time (like Lambda's own timeout, not an emulated
 * interval), `timeoutInMillis` as given, never scaled, floored by `minTimeoutMs`. A denied call
 * is an error that starts with `noPermission` (what the API kind logs for it); `functionName`
 * names the function in the errors.
 */
export async function invokeIntegration(a: {
  clock: Clock;
  functions: FunctionInvoker;
  minTimeoutMs?: number;
  timeoutInMillis: number;
  uri: string;
  functionName: string;
  sourceArn: string;
  payload: Buffer;
  noPermission: string;
}): Promise<IntegrationOutcome> {
  const timeoutMs = Math.max(a.minTimeoutMs ?? 0, a.timeoutInMillis);
  const abort = new AbortController();
  const timer = a.clock.sleepMs(timeoutMs, abort.signal).then(
    () => ({ kind: 'timeout' as const }),
    () => new Promise<never>(() => undefined),
  );
  const call = a.functions
    .invokeAs('apigateway.amazonaws.com', a.sourceArn, a.uri, a.payload)
    .then((r) =>
      r.permitted
        ? { kind: 'ok' as const, result: r.result }
        : { kind: 'error' as const, error: `${a.noPermission} (${r.reason}; function ${a.functionName}, source ARN ${a.sourceArn})` },
    )
    .catch((e: unknown) => ({ kind: 'error' as const, error: `invoking ${a.functionName} failed: ${(e as Error)?.message ?? String(e)}` }));
  try {
    return await Promise.race([call, timer]);
  } finally {
    abort.abort();
  }
}
