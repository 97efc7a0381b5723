import type { FunctionInvoker, ServerlessContext, StartedPart } from '../../aws/serverless.ts';

/** API Gateway v2 HTTP APIs: the API on the edge and the APIs' HTTPS endpoints (placeholder until the provider lands). */
export async function startHttpApis(_ctx: ServerlessContext, _functions: FunctionInvoker): Promise<StartedPart> {
  return { providers: [], async stop() {} };
}
