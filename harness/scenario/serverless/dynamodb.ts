import type { ServerlessContext, StartedPart } from '../../aws/serverless.ts';

/** DynamoDB on the edge (placeholder until the provider lands). */
export async function startDynamoDb(_ctx: ServerlessContext): Promise<StartedPart> {
  return { providers: [], async stop() {} };
}
