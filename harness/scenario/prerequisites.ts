import { apiCallOf, callOfRun, type ApiCallEvent as ApiCall, type TimelineEvent } from '../events.ts';

/**
 * Missing prerequisites: a deploy script looked up something that must exist before it runs
 * (a load balancer, a Cognito user pool or app client, a secret, an IAM role, an ECR
 * repository or image tag, a subnet, a VPC) and the harness had not seeded it. Read from the
 * `api.call` events the AWS edge records (service, operation, status, error code and message,
 * the scalar and short-list input fields, a 200's `failures`), so each one can be reported as
 * one line naming the API call, the name asked for and the harness.yaml key to add it under.
 *
 * What cannot be diagnosed from the server side: lookups the CLI filters client-side, e.g.
 * `list-user-pools --query "UserPools[?Name=='x']"`, `list-user-pool-clients --query …`,
 * `list-secrets`, `list-roles`, `describe-repositories` without names, or `describe-subnets`
 * / `describe-vpcs` with `--filters`. The server answers those 200 with whatever exists (the
 * filter, or the empty list, is applied in the client or does not fail), and never sees the
 * name the script wanted. Lookups served elsewhere (LocalStack in docker mode) are not
 * recorded by the edge either.
 */

export type HarnessEvent = TimelineEvent;

export type PrerequisiteKind = 'loadBalancer' | 'userPool' | 'appClient' | 'secret' | 'role' | 'repository' | 'imageTag' | 'subnet' | 'vpc';

/** What each kind is called in a report line and where harness.yaml declares it. */
export const PREREQUISITE_KINDS: Readonly<Record<PrerequisiteKind, { what: string; manifestKey: string }>> = {
  loadBalancer: { what: 'load balancer', manifestKey: 'loadBalancers' },
  userPool: { what: 'user pool', manifestKey: 'cognito' },
  appClient: { what: 'app client', manifestKey: 'cognito[].clients' },
  secret: { what: 'secret', manifestKey: 'secrets' },
  role: { what: 'IAM role', manifestKey: 'iam.roles' },
  repository: { what: 'ECR repository', manifestKey: 'images.repositories' },
  imageTag: { what: 'image', manifestKey: 'images.tags' },
  subnet: { what: 'subnet', manifestKey: 'vpc.subnets' },
  vpc: { what: 'VPC', manifestKey: 'vpc' },
};

export interface MissingPrerequisite {
  /** e.g. `deploy-all.sh looked up load balancer web-alb (elbv2 DescribeLoadBalancers → LoadBalancerNotFound), which the harness did not seed: add it under loadBalancers in harness.yaml` */
  line: string;
  /** the service as the aws CLI names it: elbv2, cognito-idp, secretsmanager, iam, ecr, ec2 */
  service: string;
  operation: string;
  /** the name (or id) the script asked for; ECR images as repository:tag */
  name: string;
  manifestKey: string;
  kind: PrerequisiteKind;
  /** 'load balancer', 'user pool', … */
  what: string;
  /** the error code, or a BatchGetImage failure code */
  error: string;
  /** seq of the first api.call that showed it missing */
  seq: number;
}

export interface PrerequisiteOptions {
  /** first seq to consider (inclusive), e.g. ScriptRun.fromSeq */
  fromSeq?: number;
  /** seq to stop at (exclusive), e.g. ScriptRun.toSeq */
  toSeq?: number;
  /** how the line names who looked it up, e.g. 'deploy-all.sh' (default 'the script') */
  script?: string;
  /** only the calls tagged with this caller (ScriptRun.callerTag) in the window, untagged ones too */
  callerTag?: string;
}

/** The CLI's names for the edge's signing names. */
const CLI_SERVICE: Record<string, string> = { elasticloadbalancing: 'elbv2' };


interface Found {
  kind: PrerequisiteKind;
  name: string;
  /** the error code or failure code that says it is missing */
  error: string;
}


function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A string list input (query `A.member.N`, EC2 `A.N` and JSON lists all arrive as arrays); a lone string too. */
function strs(v: unknown): string[] {
  if (typeof v === 'string') return v ? [v] : [];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x !== '') : [];
}

/** The first 'quoted' value of an error message, e.g. EC2's "The subnet ID 'subnet-1' does not exist". */
function quoted(message: string | undefined, re: RegExp = /'([^']+)'/): string | undefined {
  return message ? re.exec(message)?.[1] : undefined;
}

/** `…:loadbalancer/app/<name>/<id>` → name */
function lbNameFromArn(arn: string): string {
  return /:loadbalancer\/(?:app|net|gwy)\/([^/]+)\//.exec(arn)?.[1] ?? arn;
}

/**
 * A SecretId as the secret's name: a full ARN ends in `secret:<name>-<6 random characters>`.
 * (A partial ARN, without the suffix, whose name itself ends in -XXXXXX would lose those six
 * characters: rare, and the line still points at the right key.)
 */
function secretName(id: string): string {
  const m = /^arn:[^:]+:secretsmanager:[^:]*:[^:]*:secret:(.+)$/.exec(id);
  return m ? m[1]!.replace(/-[A-Za-z0-9]{6}$/, '') : id;
}

function imageName(repo: string, id: Record<string, unknown> | undefined): string | undefined {
  // a digest alone is not reported: the harness computes digests, no manifest key makes a given one exist
  const tag = str(id?.imageTag);
  return tag && tag !== 'null' ? `${repo}:${tag}` : undefined;
}

function imageIds(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => !!x && typeof x === 'object') : [];
}

const ECR_LOOKUPS = new Set(['DescribeRepositories', 'DescribeImages', 'BatchGetImage', 'ListImages']);

/** What a failing (or, for BatchGetImage, partly failing) call says is missing. */
function missingIn(c: ApiCall): Found[] {
  const i = c.input;
  const err = c.error;
  switch (c.service) {
    case 'elasticloadbalancing':
      // DescribeTargetGroups is not here: the scripts create their target groups.
      if (c.operation === 'DescribeLoadBalancers' && err === 'LoadBalancerNotFound') {
        // the error does not say which of several names is missing: every name asked for
        return [...strs(i.Names), ...strs(i.LoadBalancerArns).map(lbNameFromArn)].map((name) => ({ kind: 'loadBalancer', name, error: err }));
      }
      return [];
    case 'cognito-idp': {
      if (err !== 'ResourceNotFoundException') return [];
      const pool = str(i.UserPoolId);
      if (c.operation === 'DescribeUserPool' && pool) return [{ kind: 'userPool', name: pool, error: err }];
      if (c.operation === 'DescribeUserPoolClient') {
        // "User pool <id> does not exist." when the pool is what is missing
        if (pool && /^User pool (?!client)/.test(c.message ?? '')) return [{ kind: 'userPool', name: pool, error: err }];
        const client = str(i.ClientId);
        return client ? [{ kind: 'appClient', name: client, error: err }] : [];
      }
      return [];
    }
    case 'secretsmanager': {
      if (err !== 'ResourceNotFoundException' || (c.operation !== 'GetSecretValue' && c.operation !== 'DescribeSecret')) return [];
      // "can't find the specified secret value for VersionStage…": the secret exists, a version does not
      if (/secret value/i.test(c.message ?? '')) return [];
      const id = str(i.SecretId);
      return id ? [{ kind: 'secret', name: secretName(id), error: err }] : [];
    }
    case 'iam': {
      if (c.operation !== 'GetRole' || err !== 'NoSuchEntity') return [];
      const role = str(i.RoleName) ?? quoted(c.message, /role with name (\S+) cannot be found/);
      return role ? [{ kind: 'role', name: role, error: err }] : [];
    }
    case 'ecr': {
      if (!ECR_LOOKUPS.has(c.operation)) return [];
      const repo = str(i.repositoryName);
      if (err === 'RepositoryNotFoundException') {
        const named = quoted(c.message, /repository with name '([^']+)'/) ?? repo;
        const names = named ? [named] : strs(i.repositoryNames);
        return names.map((name) => ({ kind: 'repository', name, error: err }));
      }
      if (!repo) return [];
      if (c.operation === 'DescribeImages' && err === 'ImageNotFoundException') {
        const tag = quoted(c.message, /imageTag:'([^']+)'/);
        const names = tag && tag !== 'null' ? [`${repo}:${tag}`] : imageIds(i.imageIds).map((id) => imageName(repo, id));
        return names.filter((n): n is string => !!n).map((name) => ({ kind: 'imageTag', name, error: err }));
      }
      if (c.operation === 'BatchGetImage' && c.status === 200) {
        // a missing image is a 200 whose `failures` name it
        return (c.failures ?? [])
          .filter((f) => f.failureCode === 'ImageNotFound')
          .map((f) => imageName(repo, f.imageId as Record<string, unknown> | undefined))
          .filter((n): n is string => !!n)
          .map((name) => ({ kind: 'imageTag', name, error: 'ImageNotFound' }));
      }
      return [];
    }
    case 'ec2': {
      // any EC2 call that names a subnet or VPC that is not there: DescribeSubnets/DescribeVpcs,
      // and also e.g. CreateSecurityGroup --vpc-id
      const kind = err === 'InvalidSubnetID.NotFound' ? 'subnet' : err === 'InvalidVpcID.NotFound' ? 'vpc' : undefined;
      if (!kind) return [];
      const fromMessage = quoted(c.message)?.split(',').map((x) => x.trim()).filter(Boolean);
      const fromInput = kind === 'subnet' ? [...strs(i.SubnetId), ...strs(i.SubnetIds)] : [...strs(i.VpcId), ...strs(i.VpcIds)];
      return (fromMessage?.length ? fromMessage : fromInput).map((name) => ({ kind, name, error: err! }));
    }
    default:
      return [];
  }
}

/** What a successful call shows does exist (or was just created by the script itself). */
function existingIn(c: ApiCall): { kind: PrerequisiteKind; name: string }[] {
  if (c.status !== 200 || c.error) return [];
  const i = c.input;
  const of = (kind: PrerequisiteKind, names: (string | undefined)[]) => names.filter((n): n is string => !!n).map((name) => ({ kind, name }));
  switch (`${c.service} ${c.operation}`) {
    case 'elasticloadbalancing CreateLoadBalancer':
      return of('loadBalancer', [str(i.Name)]);
    case 'elasticloadbalancing DescribeLoadBalancers':
      return of('loadBalancer', [...strs(i.Names), ...strs(i.LoadBalancerArns).map(lbNameFromArn)]);
    case 'cognito-idp DescribeUserPool':
      return of('userPool', [str(i.UserPoolId)]);
    case 'cognito-idp DescribeUserPoolClient':
      return of('appClient', [str(i.ClientId)]);
    case 'secretsmanager CreateSecret':
      return of('secret', [str(i.Name)]);
    case 'secretsmanager GetSecretValue':
    case 'secretsmanager DescribeSecret':
      return of('secret', [str(i.SecretId) && secretName(str(i.SecretId)!)]);
    case 'iam CreateRole':
    case 'iam GetRole':
      return of('role', [str(i.RoleName)]);
    case 'ecr CreateRepository':
      return of('repository', [str(i.repositoryName)]);
    case 'ecr DescribeRepositories':
      return of('repository', strs(i.repositoryNames));
    case 'ecr PutImage':
      return of('imageTag', [str(i.repositoryName) && str(i.imageTag) ? `${i.repositoryName}:${i.imageTag}` : undefined]);
    case 'ecr DescribeImages':
      return of('imageTag', imageIds(i.imageIds).map((id) => (str(i.repositoryName) ? imageName(String(i.repositoryName), id) : undefined)));
    case 'ec2 DescribeSubnets':
      return of('subnet', [...strs(i.SubnetId), ...strs(i.SubnetIds)]);
    case 'ec2 DescribeVpcs':
      return of('vpc', [...strs(i.VpcId), ...strs(i.VpcIds)]);
    default:
      return [];
  }
}

/**
 * The prerequisites the script(s) between fromSeq and toSeq looked up and did not find,
 * one per kind and name, in the order they were first asked for. A name the same window shows
 * existing (created by the script itself, as in `describe-repositories || create-repository`,
 * or found by another call) is not reported.
 */
export function missingPrerequisites(events: readonly HarnessEvent[], opts: PrerequisiteOptions = {}): MissingPrerequisite[] {
  const from = opts.fromSeq ?? 0;
  const to = opts.toSeq ?? Number.POSITIVE_INFINITY;
  const who = opts.script ?? 'the script';
  const calls = events.filter((e) => callOfRun(e, { fromSeq: from, toSeq: to, callerTag: opts.callerTag })).map(apiCallOf).filter((c): c is ApiCall => !!c);
  const key = (kind: PrerequisiteKind, name: string) => `${kind}\u0000${name}`;
  const existing = new Set(calls.flatMap((c) => existingIn(c).map((x) => key(x.kind, x.name))));
  const out = new Map<string, MissingPrerequisite>();
  for (const c of calls) {
    for (const f of missingIn(c)) {
      const k = key(f.kind, f.name);
      if (existing.has(k) || out.has(k)) continue;
      const { what, manifestKey } = PREREQUISITE_KINDS[f.kind];
      const service = CLI_SERVICE[c.service] ?? c.service;
      out.set(k, {
        line: `${who} looked up ${what} ${f.name} (${service} ${c.operation} → ${f.error}), which the harness did not seed: add it under ${manifestKey} in harness.yaml`,
        service,
        operation: c.operation,
        name: f.name,
        manifestKey,
        kind: f.kind,
        what,
        error: f.error,
        seq: c.seq,
      });
    }
  }
  return [...out.values()];
}

/**
 * The report's lines for one script run, e.g.
 * `deploy-all.sh v2.15.0 exited 1: it looked up load balancer web-alb (elbv2 DescribeLoadBalancers → LoadBalancerNotFound), which the harness did not seed (add it under loadBalancers in harness.yaml)`.
 */
export function formatPrerequisiteLines(
  items: readonly (Pick<MissingPrerequisite, 'service' | 'operation' | 'name' | 'manifestKey'> & Partial<Pick<MissingPrerequisite, 'what' | 'error' | 'kind'>>)[],
  scriptLabel: string,
  exitCode: number | null,
): string[] {
  const how = exitCode === 0 ? 'exited 0, but it' : exitCode === null ? 'was stopped before it exited: it' : `exited ${exitCode}: it`;
  return items.map((x) => {
    const what = x.what ?? (x.kind ? PREREQUISITE_KINDS[x.kind].what : undefined);
    const call = `${x.service} ${x.operation}${x.error ? ` → ${x.error}` : ''}`;
    return `${scriptLabel} ${how} looked up ${what ? `${what} ` : ''}${x.name} (${call}), which the harness did not seed (add it under ${x.manifestKey} in harness.yaml)`;
  });
}
