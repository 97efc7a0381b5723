import { createHash } from 'node:crypto';
import { AwsError } from '../protocol/errors.ts';
import type { EventSink } from '../protocol/types.ts';

export interface IamStoreDeps {
  account: string;
  now?: () => Date;
  events?: EventSink;
}

/** An IAM role as GetRole reports it (the model's `Role` shape; the trust policy as plain JSON here). */
export interface IamRole {
  Path: string;
  RoleName: string;
  RoleId: string;
  Arn: string;
  CreateDate: Date;
  /** JSON text; the wire carries it URL-encoded, as IAM does */
  AssumeRolePolicyDocument: string;
  Description?: string;
  MaxSessionDuration: number;
  Tags: { Key: string; Value: string }[];
}

/** The trust policy ECS task and execution roles carry. */
export const ECS_TASKS_TRUST_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});

/** roleNameType (botocore iam 2010-05-08): 1–64 of [\w+=,.@-]. */
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
/** pathType: "/" or "/…/" of printable ASCII. */
const PATH = /^(\/|\/[\u0021-\u007E]+\/)$/;

export const iamErrors = {
  noSuchRole: (name: string) => new AwsError('NoSuchEntity', `The role with name ${name} cannot be found.`, 404),
  entityExists: (name: string) => new AwsError('EntityAlreadyExists', `Role with name ${name} already exists.`, 409),
  validation: (m: string) => new AwsError('ValidationError', m),
};

/** `1 validation error detected: …` in the wording AWS's Coral front ends use. */
export function patternError(field: string, value: string, pattern: string): AwsError {
  return iamErrors.validation(`1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: Member must satisfy regular expression pattern: ${pattern}`);
}

/**
 * IAM state: roles only, and only as data. The harness never evaluates a policy; roles exist so
 * that deploy scripts can look them up (GetRole) and put their ARNs into task definitions.
 * IAM is global: ARNs carry the account and no region.
 */
export class IamStore {
  readonly account: string;
  private readonly now: () => Date;
  private readonly events?: EventSink;
  /** by RoleName (IAM role names are unique per account, case-insensitively) */
  private readonly roles = new Map<string, IamRole>();

  constructor(deps: IamStoreDeps) {
    this.account = deps.account;
    this.now = deps.now ?? (() => new Date());
    this.events = deps.events;
  }

  createRole(input: { RoleName: string; Path?: string; AssumeRolePolicyDocument?: string; Description?: string; MaxSessionDuration?: number; Tags?: { Key: string; Value: string }[] }): IamRole {
    const name = input.RoleName;
    if (!ROLE_NAME.test(name)) throw patternError('roleName', name, '[\\w+=,.@-]+');
    const path = input.Path ?? '/';
    if (!PATH.test(path)) throw patternError('path', path, '(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)');
    if (this.findRole(name)) throw iamErrors.entityExists(name);
    const role: IamRole = {
      Path: path,
      RoleName: name,
      RoleId: roleIdOf(this.account, name),
      Arn: `arn:aws:iam::${this.account}:role${path}${name}`,
      CreateDate: this.now(),
      AssumeRolePolicyDocument: input.AssumeRolePolicyDocument ?? ECS_TASKS_TRUST_POLICY,
      ...(input.Description !== undefined ? { Description: input.Description } : {}),
      MaxSessionDuration: input.MaxSessionDuration ?? 3600,
      Tags: input.Tags ?? [],
    };
    this.roles.set(name.toLowerCase(), role);
    this.events?.append('iam.role.created', { roleName: name, arn: role.Arn });
    return role;
  }

  findRole(name: string): IamRole | undefined {
    return this.roles.get(name.toLowerCase());
  }

  /** GetRole: NoSuchEntity (404) when it does not exist. */
  getRole(name: string): IamRole {
    if (!ROLE_NAME.test(name)) throw patternError('roleName', name, '[\\w+=,.@-]+');
    const r = this.findRole(name);
    if (!r) throw iamErrors.noSuchRole(name);
    return r;
  }

  /** ListRoles order: by name, as IAM lists them. */
  listRoles(pathPrefix = '/'): IamRole[] {
    return [...this.roles.values()].filter((r) => r.Path.startsWith(pathPrefix)).sort((a, b) => a.RoleName.localeCompare(b.RoleName));
  }
}

/** A role id as IAM makes them: 'AROA' + 17 upper-case alphanumerics, stable per account and name. */
export function roleIdOf(account: string, name: string): string {
  const b32 = createHash('sha256').update(`${account}/role/${name}`).digest('base64').toUpperCase().replace(/[^A-Z0-9]/g, '');
  return `AROA${b32.slice(0, 17)}`;
}
