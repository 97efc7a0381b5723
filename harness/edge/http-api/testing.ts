import type { FunctionInvoker, InvokeResult } from '../../aws/serverless.ts';

/** For the execute-api data planes' tests: what an integration handed the (fake) Lambda. */
export interface Call {
  principal: string;
  sourceArn: string;
  functionRef: string;
  event: any;
}

/** A function's successful answer: `value` as its JSON payload, with `functionError` when given. */
export const answer = (value: unknown, functionError?: string): InvokeResult => ({ statusCode: 200, payload: Buffer.from(JSON.stringify(value)), executedVersion: '$LATEST', ...(functionError ? { functionError } : {}) });

/** Stands in for Lambda: answers per function name, records what it was given. */
export function fakeInvoker(handlers: Record<string, (event: any) => Promise<InvokeResult | 'denied'> | InvokeResult | 'denied'>) {
  const calls: Call[] = [];
  const invoker: FunctionInvoker = {
    async invokeAs(principal, sourceArn, functionRef, payload) {
      const event = JSON.parse(payload.toString('utf8'));
      calls.push({ principal, sourceArn, functionRef, event });
      const name = functionRef.replace(/\/invocations$/, '').split(':').pop()!;
      const h = handlers[name];
      if (!h) throw new Error(`Function not found: ${functionRef}`);
      const r = await h(event);
      if (r === 'denied') return { permitted: false, reason: `no statement allows ${principal} from ${sourceArn}` };
      return { permitted: true, result: r };
    },
  };
  return { invoker, calls };
}
