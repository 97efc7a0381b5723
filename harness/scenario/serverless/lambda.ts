import type { FunctionInvoker, ServerlessContext, StartedPart } from '../../aws/serverless.ts';

/** Lambda: the API on the edge and the function environments (placeholder until the provider lands). */
export async function startLambda(_ctx: ServerlessContext): Promise<StartedPart & { invoker: FunctionInvoker }> {
  return {
    providers: [],
    invoker: {
      async invokeAs() {
        throw new Error('Lambda is not served in this build');
      },
    },
    async stop() {},
  };
}
