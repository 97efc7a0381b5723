import path from 'node:path';
import type { ServerlessContext, StartedPart } from '../../aws/serverless.ts';
import { DynaliteEngines } from '../../aws/dynamodb/dynalite.ts';
import { createDynamoDbProvider } from '../../aws/dynamodb/provider.ts';
import { DynamoDbSeedError, seedTables } from '../../aws/dynamodb/seed.ts';
import { ManifestError } from '../../manifest/load.ts';

/** How long (AWS seconds, scaled by the clock) a table stays CREATING, DELETING or UPDATING. */
export const TABLE_TRANSITION_SECONDS = 5;

/**
 * DynamoDB on the edge: dynalite in this process (in memory, one instance per region the
 * clients sign for, started on first use) behind the `DynamoDB_20120810` provider, and the
 * manifest's `dynamodb.tables` created and filled in the run's region before the scripts run.
 */
export async function startDynamoDb(ctx: ServerlessContext): Promise<StartedPart> {
  const transitionMs = ctx.clock.scaledMs(TABLE_TRANSITION_SECONDS);
  const engines = new DynaliteEngines({ createTableMs: transitionMs, deleteTableMs: transitionMs, updateTableMs: transitionMs });
  const provider = createDynamoDbProvider(engines, { events: ctx.events });
  const tables = ctx.manifest.dynamodb?.tables ?? {};
  const names = Object.keys(tables);
  if (names.length > 0) {
    try {
      await seedTables(await engines.forRegion(ctx.region), tables, { sleepMs: (ms) => ctx.clock.sleepMs(ms) });
    } catch (e) {
      await engines.stop();
      if (e instanceof DynamoDbSeedError) throw new ManifestError(path.relative(process.cwd(), ctx.manifest.file) || ctx.manifest.file, e.keyPath, e.problem);
      throw e;
    }
    for (const n of names) ctx.events.append('dynamodb.table.seeded', { region: ctx.region, table: n, items: tables[n]!.items.length });
  }
  return {
    providers: [provider],
    env: { AWS_ENDPOINT_URL_DYNAMODB: ctx.awsEndpoint },
    summary: `DynamoDB: dynalite in-process (in memory), ${names.length ? `${names.length} table${names.length > 1 ? 's' : ''} seeded in ${ctx.region} (${names.join(', ')})` : 'no tables seeded'}`,
    stop: () => engines.stop(),
  };
}
