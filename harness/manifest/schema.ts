/**
 * harness.yaml: what exists before the deploy scripts run (what CI or the platform team would
 * have made), and nothing the scripts create. One zod schema validates it; `npm run schema`
 * writes the same schema as JSON Schema (harness.schema.json) for editors.
 */
import { z } from 'zod/v4';

/** What an image of the catalogue does when it runs (the generic stub's behaviour). */
export const BEHAVIOURS = ['healthy', 'unhealthy', 'crash', 'slow-start', 'amd64-only', 'ignore-sigterm'] as const;
export type Behaviour = (typeof BEHAVIOURS)[number];

const name = z.string().min(1);
const cidr = z.string().regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/, 'a CIDR such as 10.0.0.0/16');
const platform = z.string().regex(/^[a-z0-9]+\/[a-z0-9_]+(\/v\d+)?$/, 'a platform such as linux/arm64');

const behaviour = z.enum(BEHAVIOURS);
const tagSpec = z.union([
  behaviour,
  z
    .object({
      behaviour: behaviour.default('healthy').describe('what the image does when it runs'),
      platforms: z.array(platform).min(1).optional().describe('the platforms the image index holds (default: images.platforms)'),
    })
    .strict(),
]);
export type TagSpec = z.infer<typeof tagSpec>;

const listener = z
  .object({
    port: z.number().int().min(1).max(65535),
    protocol: z.enum(['HTTP', 'HTTPS']).default('HTTPS'),
  })
  .strict();

const surrealHost = z
  .object({
    kind: z.literal('surrealdb'),
    dns: name.describe('the DNS name tasks use, e.g. surrealdb.example.internal (answered by the VPC resolver)'),
    port: z.number().int().min(1).max(65535).default(8000),
    securityGroups: z.array(name).default([]).describe('groups by name (the scripts create them; attached once they exist)'),
    subnets: z.array(name).optional().describe('subnet ids it may take an address in (default: the VPC\'s subnets)'),
    rootSecret: name.optional().describe('the secret holding {"username","password"}; seeded with a fake value unless secrets names it'),
  })
  .strict();

const anthropicHost = z
  .object({
    kind: z.literal('anthropic'),
    apiKeySecret: name.optional().describe('the secret whose value the stand-in accepts as x-api-key (default: the one secret whose name contains "anthropic")'),
  })
  .strict();

/** DynamoDB key attribute: its name and scalar type (S string, N number, B binary as base64). */
const dynamoKey = z
  .object({
    name: z.string().min(1).max(255).describe('the attribute name'),
    type: z.enum(['S', 'N', 'B']).describe('S string, N number, B binary (base64 in items)'),
  })
  .strict();
type DynamoKey = z.output<typeof dynamoKey>;

const DYNAMO_TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;

/** Whether a plain JSON value can be the key attribute of that type. */
function dynamoKeyValueProblem(type: DynamoKey['type'], v: unknown): string | undefined {
  if (type === 'S') return typeof v === 'string' && v !== '' ? undefined : 'a non-empty string';
  if (type === 'N') return (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v.trim())) ? undefined : 'a number';
  return typeof v === 'string' && v !== '' && /^[A-Za-z0-9+/]*={0,2}$/.test(v) && v.length % 4 === 0 ? undefined : 'a non-empty base64 string';
}

/** The path of the first number in a plain JSON value that DynamoDB cannot store (NaN, ±Infinity). */
function nonFinitePath(v: unknown, at: (string | number)[] = []): (string | number)[] | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : at;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = nonFinitePath(v[i], [...at, i]);
      if (p) return p;
    }
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const p = nonFinitePath(x, [...at, k]);
      if (p) return p;
    }
  }
  return undefined;
}

const dynamoTable = z
  .object({
    partitionKey: dynamoKey.describe('the hash key'),
    sortKey: dynamoKey.optional().describe('the range key, if the table has one'),
    billingMode: z.enum(['PAY_PER_REQUEST', 'PROVISIONED']).default('PAY_PER_REQUEST').describe('PROVISIONED tables get 5 read and 5 write capacity units'),
    items: z
      .array(z.record(z.string(), z.unknown()))
      .default([])
      .describe('items written before the scripts run, as plain JSON: strings, numbers, booleans, null, lists and mappings (each must carry the key attributes)'),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.sortKey && t.sortKey.name === t.partitionKey.name) {
      ctx.addIssue({ code: 'custom', path: ['sortKey', 'name'], message: 'expected a name other than partitionKey.name', input: t.sortKey.name });
    }
    const keys = [
      ['partition key', t.partitionKey],
      ...(t.sortKey ? [['sort key', t.sortKey] as const] : []),
    ] as const;
    const seen = new Map<string, number>();
    t.items.forEach((item, i) => {
      for (const [role, k] of keys) {
        if (!(k.name in item)) {
          ctx.addIssue({ code: 'custom', path: ['items', i], message: `expected the ${role} ${k.name} among the item's attributes`, input: Object.keys(item) });
          return;
        }
        const problem = dynamoKeyValueProblem(k.type, item[k.name]);
        if (problem) {
          ctx.addIssue({ code: 'custom', path: ['items', i, k.name], message: `expected ${problem} (the ${role}'s type is ${k.type})`, input: item[k.name] });
          return;
        }
      }
      const bad = nonFinitePath(item);
      if (bad) {
        ctx.addIssue({ code: 'custom', path: ['items', i, ...bad], message: 'expected a finite number', input: String(bad.reduce<any>((v, k) => v[k], item)) });
        return;
      }
      const id = JSON.stringify(keys.map(([, k]) => String(item[k.name])));
      const first = seen.get(id);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['items', i], message: `expected a key not already used by items[${first}]`, input: keys.map(([, k]) => item[k.name]) });
        return;
      }
      seen.set(id, i);
    });
  });

export const manifestSchema = z
  .object({
    $schema: z.string().optional(),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region such as us-west-2'),
    account: z.string().regex(/^\d{12}$/, 'twelve digits').default('000000000000'),
    commands: z
      .object({
        deployAll: z.string().min(1).default('./deploy-all.sh {version}'),
        deployService: z
          .string()
          .min(1)
          .default('./deploy.sh {service} {version}')
          .describe('{service}: the Cloud Map name (else the container name); also {ecsService}, {family}, {container}, {cluster}'),
        environment: z.record(z.string(), z.string()).default({}).describe('extra environment for the scripts'),
      })
      .strict()
      .default({ deployAll: './deploy-all.sh {version}', deployService: './deploy.sh {service} {version}', environment: {} }),
    vpc: z
      .object({
        id: z.string().regex(/^vpc-[0-9a-f]+$/, 'a VPC id such as vpc-0abc123'),
        cidr,
        subnets: z
          .array(
            z
              .object({
                id: z.string().regex(/^subnet-[0-9a-f]+$/, 'a subnet id such as subnet-0abc123'),
                cidr,
                az: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, 'an availability zone such as us-west-2a'),
                name: z.string().optional(),
              })
              .strict(),
          )
          .min(1),
      })
      .strict(),
    loadBalancers: z
      .array(
        z
          .object({
            name,
            scheme: z.enum(['internet-facing', 'internal']).default('internet-facing'),
            listeners: z.array(listener).default([{ port: 443, protocol: 'HTTPS' }]),
            securityGroups: z.array(name).default([]).describe('by name: the scripts create them; attached once they exist'),
          })
          .strict(),
      )
      .default([]),
    cognito: z
      .array(
        z
          .object({
            userPool: name,
            domain: z.string().regex(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/, 'a hosted-UI domain prefix such as my-auth').optional(),
            clients: z
              .array(
                z
                  .object({
                    name,
                    generateSecret: z.boolean().default(false),
                    callbackUrls: z.array(z.string()).optional().describe('default: the first load balancer\'s /oauth2/idpresponse'),
                  })
                  .strict(),
              )
              .default([]),
            users: z
              .array(
                z
                  .object({
                    username: name,
                    password: z.string().optional().describe('default: a fake one the harness knows'),
                    email: z.string().optional(),
                  })
                  .strict(),
              )
              .default([]),
          })
          .strict(),
      )
      .default([]),
    iam: z
      .object({ roles: z.array(name).default([]).describe('exist for GetRole; never evaluated') })
      .strict()
      .default({ roles: [] }),
    secrets: z
      .record(name, z.union([z.string(), z.record(z.string(), z.unknown())]))
      .default({})
      .describe('name: fake value (a string, or a mapping stored as JSON); {cognito.<pool>.jwksUrl|issuer|id|arn} are filled in'),
    images: z
      .object({
        platforms: z.array(platform).min(1).default(['linux/arm64']),
        tags: z.record(name, tagSpec).default({}).describe('every repository gets these tags, with this behaviour'),
        repositories: z
          .record(name, z.union([z.record(name, tagSpec), z.null()]).transform((x) => x ?? {}))
          .default({})
          .describe('repository: overrides of the default tags'),
      })
      .strict()
      .default({ platforms: ['linux/arm64'], tags: {}, repositories: {} }),
    hosts: z
      .record(name, z.discriminatedUnion('kind', [surrealHost, anthropicHost]))
      .default({})
      .describe('what the services reach that is not an ECS service'),
    policy: z
      .array(
        z
          .object({
            from: name.describe('a group name, or "internet"'),
            to: name.describe('a group name, or "internet"'),
            ports: z.union([z.string().regex(/^\d+(-\d+)?$/, 'a port or a range such as 8081-8082'), z.number().int()]).transform(String),
          })
          .strict(),
      )
      .default([])
      .describe('the intended reachability, checked against what the scripts created'),
    dynamodb: z
      .object({
        tables: z
          .record(z.string(), dynamoTable)
          .superRefine((tables, ctx) => {
            for (const n of Object.keys(tables)) {
              if (!DYNAMO_TABLE_NAME.test(n)) ctx.addIssue({ code: 'custom', path: [n], message: 'expected a table name of 3 to 255 characters from a-z A-Z 0-9 _ . -', input: n });
            }
          })
          .default({})
          .describe('table name: its key schema and the items it holds'),
      })
      .strict()
      .optional()
      .describe('DynamoDB tables that exist before the scripts run, created and filled at bring-up in the manifest\'s region'),
  })
  .strict();

export type ManifestInput = z.input<typeof manifestSchema>;
export type Manifest = z.output<typeof manifestSchema>;
export type SurrealHost = z.output<typeof surrealHost>;
export type AnthropicHost = z.output<typeof anthropicHost>;
export type DynamoDbTable = z.output<typeof dynamoTable>;

/** The JSON Schema editors complete harness.yaml with (written to harness.schema.json). */
export function manifestJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(manifestSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'escher-harness manifest (harness.yaml)',
    description: 'What exists before the deploy scripts run: VPC, load balancers, Cognito, IAM roles, secrets, images, hosts, DynamoDB tables and the intended policy.',
  };
}
