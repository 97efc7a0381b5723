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
  z
    .object({
      image: z
        .string()
        .min(1)
        .regex(/^[^\s]+$/, 'a local Docker image reference such as my-service:dev')
        .describe('a local Docker image (name:tag or id) the harness pushes to this repository:tag through the ECR registry before the scripts run (docker mode runs it)'),
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

/** An HTTP API route key as API Gateway writes it: `GET /items/{id}`, `ANY /{proxy+}`, or `$default`. */
const ROUTE_KEY = /^(?:(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) (\/[^\s?#]*)|\$default)$/;
const routeKey = z.string().regex(ROUTE_KEY, 'a route key such as GET /items/{id} (METHOD /path, the method one of GET POST PUT PATCH DELETE HEAD OPTIONS ANY) or $default');
const LOG_GROUP = /^[.\-_/#A-Za-z0-9]{1,512}$/;

/** Whether a request path (no query) is one a route's path template matches: `{x}` one segment, `{x+}` the rest. */
export function routePathMatches(template: string, requestPath: string): boolean {
  const t = template.split('/');
  const p = requestPath.split('/');
  for (let i = 0; i < t.length; i++) {
    const seg = t[i]!;
    if (/^\{[^{}]+\+\}$/.test(seg)) return i === t.length - 1 && p.length > i && p.slice(i).join('/') !== '';
    if (i >= p.length) return false;
    if (/^\{[^{}]+\}$/.test(seg)) {
      if (p[i] === '') return false;
    } else if (seg !== p[i]) return false;
  }
  return p.length === t.length;
}

const httpApiRequest = z
  .object({
    route: routeKey.describe('the route the request is for, as the scripts create it (e.g. GET /logs); its authorizer and integration are read from the control plane'),
    method: z
      .enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'])
      .optional()
      .describe("the method to send (default: the route's; required for ANY and $default)"),
    path: z
      .string()
      .regex(/^\/[^\s#]*$/, 'a path such as /items/42 (a query string may follow)')
      .optional()
      .describe("the path to send, optionally with ?query (default: the route's path; required when it has {parameters})"),
    headers: z.record(z.string(), z.string()).optional().describe('extra request headers (Authorization is the harness\'s)'),
    body: z
      .union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())])
      .optional()
      .describe('a mapping or list is sent as JSON (content-type application/json), a string as it is (text/plain)'),
    expect: z.number().int().min(100).max(599).describe('the status the answer must have, with a valid access token'),
    logsOf: z
      .string()
      .regex(LOG_GROUP, 'a log group name such as /ecs/web')
      .optional()
      .describe('a log group (one the scripts\' services write): the answer must hold its newest message as the harness\'s CloudWatch Logs has it when the request is sent'),
    readBack: routeKey
      .optional()
      .describe('a route to read what was written: its {placeholders} are filled from the answer\'s JSON fields of those names; it must answer 200 with what was sent, and the item must be in a DynamoDB table the function\'s environment names'),
    throws: z
      .boolean()
      .optional()
      .describe('the function throws on this request: API Gateway answers 500 and the error\'s stack must reach the function\'s log group'),
  })
  .strict()
  .superRefine((r, ctx) => {
    const m = ROUTE_KEY.exec(r.route);
    if (!m) return; // the route key's own issue says what is wrong
    const routeMethod = m[1];
    const routePath = m[2];
    if (!r.method && (!routeMethod || routeMethod === 'ANY')) {
      ctx.addIssue({ code: 'custom', path: ['route'], message: 'expected a route with one method, or the method to send (method: GET …)', input: r.route });
    }
    if (r.method && routeMethod && routeMethod !== 'ANY' && r.method !== routeMethod) {
      ctx.addIssue({ code: 'custom', path: ['method'], message: `expected ${routeMethod} (the method of route ${r.route})`, input: r.method });
    }
    if (!r.path && (!routePath || /\{[^{}]+\}/.test(routePath))) {
      ctx.addIssue({ code: 'custom', path: ['route'], message: `expected a route ${routePath ? 'without {parameters}' : 'with a path'}, or the path to send (path: /…)`, input: r.route });
    }
    if (r.path && routePath && !routePathMatches(routePath, r.path.split('?')[0]!)) {
      ctx.addIssue({ code: 'custom', path: ['path'], message: `expected a path route ${r.route} matches`, input: r.path });
    }
    if (r.throws && r.expect !== 500) {
      ctx.addIssue({ code: 'custom', path: ['expect'], message: 'expected 500 with throws: true (API Gateway answers 500 when the function throws)', input: r.expect });
    }
    if (r.readBack !== undefined) {
      if (r.throws) ctx.addIssue({ code: 'custom', path: ['readBack'], message: 'expected no readBack with throws: true (nothing is written when the function throws)', input: r.readBack });
      else if (r.expect < 200 || r.expect > 299) ctx.addIssue({ code: 'custom', path: ['expect'], message: 'expected a 2xx status with readBack (what is read back must have been written)', input: r.expect });
      const rb = ROUTE_KEY.exec(r.readBack);
      if (rb && (!rb[1] || rb[1] === 'ANY')) ctx.addIssue({ code: 'custom', path: ['readBack'], message: 'expected a route key with a method other than ANY, such as GET /items/{id}', input: r.readBack });
    }
    if (r.logsOf !== undefined && (r.expect < 200 || r.expect > 299)) {
      ctx.addIssue({ code: 'custom', path: ['expect'], message: 'expected a 2xx status with logsOf (the lines come in a successful answer)', input: r.expect });
    }
  });

const httpApi = z
  .object({
    userPool: name.describe("the cognito[].userPool whose tokens the API's JWT authorizer accepts (its issuer)"),
    client: name.optional().describe("the pool's app client in the authorizer's audience; the requests' tokens are issued to it (default: the pool's first client)"),
    user: name.optional().describe("the pool's user the requests' tokens are issued for (default: the pool's first user)"),
    stage: z
      .string()
      .regex(/^(\$default|[a-zA-Z0-9_-]{1,128})$/, 'a stage name such as $default or prod')
      .optional()
      .describe("the stage the requests go to (default: $default when the API has it, else the API's only stage)"),
    requests: z
      .array(httpApiRequest)
      .min(1, 'expected at least one request')
      .describe('the sample requests the functions scenario sends with a valid access token; their routes (and readBack routes) are the routes it checks'),
  })
  .strict();

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
    httpApis: z
      .record(z.string(), httpApi)
      .superRefine((apis, ctx) => {
        for (const n of Object.keys(apis)) {
          if (n.length < 1 || n.length > 128) ctx.addIssue({ code: 'custom', path: [n], message: 'expected an HTTP API name of 1 to 128 characters', input: n });
        }
      })
      .optional()
      .describe('HTTP APIs the scripts create (API Gateway v2, by name): the Cognito pool and app client their JWT authorizer accepts, and the sample requests the functions scenario sends'),
  })
  .strict()
  .superRefine((m, ctx) => {
    // httpApis name pools, clients and users of cognito: each must be there
    for (const [api, a] of Object.entries(m.httpApis ?? {})) {
      const pool = m.cognito.find((p) => p.userPool === a.userPool);
      if (!pool) {
        const known = m.cognito.map((p) => p.userPool);
        ctx.addIssue({ code: 'custom', path: ['httpApis', api, 'userPool'], message: known.length ? `expected a user pool cognito lists (${known.join(', ')})` : 'expected a user pool cognito lists (it lists none)', input: a.userPool });
        continue;
      }
      const i = m.cognito.indexOf(pool);
      if (a.client !== undefined && !pool.clients.some((c) => c.name === a.client)) {
        ctx.addIssue({ code: 'custom', path: ['httpApis', api, 'client'], message: `expected an app client of ${pool.userPool} (cognito[${i}].clients: ${pool.clients.map((c) => c.name).join(', ') || 'none'})`, input: a.client });
      } else if (a.client === undefined && pool.clients.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['httpApis', api, 'userPool'], message: `expected a pool with an app client, for the requests' tokens (cognito[${i}].clients is empty)`, input: a.userPool });
      }
      if (a.user !== undefined && !pool.users.some((u) => u.username === a.user)) {
        ctx.addIssue({ code: 'custom', path: ['httpApis', api, 'user'], message: `expected a user of ${pool.userPool} (cognito[${i}].users: ${pool.users.map((u) => u.username).join(', ') || 'none'})`, input: a.user });
      } else if (a.user === undefined && pool.users.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['httpApis', api, 'userPool'], message: `expected a pool with a user, for the requests' tokens (cognito[${i}].users is empty)`, input: a.userPool });
      }
    }
  });

export type ManifestInput = z.input<typeof manifestSchema>;
export type Manifest = z.output<typeof manifestSchema>;
export type SurrealHost = z.output<typeof surrealHost>;
export type AnthropicHost = z.output<typeof anthropicHost>;
export type DynamoDbTable = z.output<typeof dynamoTable>;
export type HttpApiSpec = z.output<typeof httpApi>;
export type HttpApiRequest = z.output<typeof httpApiRequest>;

/** The JSON Schema editors complete harness.yaml with (written to harness.schema.json). */
export function manifestJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(manifestSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'escher-harness manifest (harness.yaml)',
    description: 'What exists before the deploy scripts run: VPC, load balancers, Cognito, IAM roles, secrets, images, hosts, DynamoDB tables, the HTTP APIs the scripts create (how they are authorized and what to send them) and the intended policy.',
  };
}
