/**
 * A function's resource-based policy: the statements AddPermission writes, the document GetPolicy
 * renders (as Lambda renders it) and the evaluation a service principal's invocation goes through
 * (API Gateway invoking a function).
 */
export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow';
  /** `{ Service: 'apigateway.amazonaws.com' }`, `{ AWS: 'arn:aws:iam::123456789012:root' }` or `'*'` */
  Principal: { Service: string } | { AWS: string } | '*';
  Action: string;
  /** the function ARN, qualified when the permission was added with a Qualifier */
  Resource: string;
  Condition?: Record<string, Record<string, string>>;
}

export interface AddPermissionInput {
  StatementId: string;
  Action: string;
  Principal: string;
  SourceArn?: string;
  SourceAccount?: string;
  PrincipalOrgID?: string;
  EventSourceToken?: string;
  FunctionUrlAuthType?: string;
}

/** The statement AddPermission adds, shaped as Lambda shapes it. */
export function statementOf(input: AddPermissionInput, resource: string): PolicyStatement {
  const p = input.Principal;
  const principal: PolicyStatement['Principal'] =
    p === '*' ? '*' : /^\d{12}$/.test(p) ? { AWS: `arn:aws:iam::${p}:root` } : p.startsWith('arn:') ? { AWS: p } : { Service: p };
  const cond: Record<string, Record<string, string>> = {};
  if (input.SourceAccount) (cond.StringEquals ??= {})['AWS:SourceAccount'] = input.SourceAccount;
  if (input.PrincipalOrgID) (cond.StringEquals ??= {})['aws:PrincipalOrgID'] = input.PrincipalOrgID;
  if (input.EventSourceToken) (cond.StringEquals ??= {})['lambda:EventSourceToken'] = input.EventSourceToken;
  if (input.FunctionUrlAuthType) (cond.StringEquals ??= {})['lambda:FunctionUrlAuthType'] = input.FunctionUrlAuthType;
  if (input.SourceArn) cond.ArnLike = { 'AWS:SourceArn': input.SourceArn };
  return {
    Sid: input.StatementId,
    Effect: 'Allow',
    Principal: principal,
    Action: input.Action,
    Resource: resource,
    ...(Object.keys(cond).length ? { Condition: cond } : {}),
  };
}

/** The policy document GetPolicy returns (a JSON string in its `Policy` member). */
export function policyDocument(statements: readonly PolicyStatement[]): string {
  return JSON.stringify({ Version: '2012-10-17', Id: 'default', Statement: statements });
}

/** IAM's `*` / `?` wildcards, matching the whole string. */
export function wildcardMatch(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
  return re.test(value);
}

/**
 * ArnLike: the first five colon-separated parts (arn, partition, service, region, account) are
 * matched one by one, the resource part (which may hold colons) as a whole; `*` and `?` are
 * wildcards within each. A pattern of fewer than six parts matches nothing (except `*`).
 */
export function arnLike(pattern: string, arn: string): boolean {
  const split = (s: string) => {
    const parts = s.split(':');
    return parts.length < 6 ? undefined : [...parts.slice(0, 5), parts.slice(5).join(':')];
  };
  const p = split(pattern);
  const a = split(arn);
  if (pattern === '*') return true;
  if (!p || !a) return false;
  return p.every((x, i) => wildcardMatch(x, a[i]!));
}

export interface InvokeRequestContext {
  /** the service principal, e.g. 'apigateway.amazonaws.com' */
  principal: string;
  /** the ARN of the resource invoking (an execute-api ARN for API Gateway) */
  sourceArn: string;
  /** the function ARN the caller invoked (qualified when it named a version or alias) */
  resource: string;
  action?: string;
}

/** Why a statement does not apply, or undefined when it allows the request. */
function statementMismatch(s: PolicyStatement, req: InvokeRequestContext): string | undefined {
  const action = req.action ?? 'lambda:InvokeFunction';
  const principalOk = s.Principal === '*' || ('Service' in s.Principal && s.Principal.Service === req.principal);
  if (!principalOk) return `principal ${JSON.stringify(s.Principal)}`;
  if (!(s.Action === '*' || s.Action === 'lambda:*' || s.Action.toLowerCase() === action.toLowerCase())) return `action ${s.Action}`;
  if (!wildcardMatch(s.Resource, req.resource)) return `resource ${s.Resource}`;
  for (const [op, kv] of Object.entries(s.Condition ?? {})) {
    for (const [key, want] of Object.entries(kv)) {
      const k = key.toLowerCase();
      if (k === 'aws:sourcearn') {
        const ok = op === 'ArnLike' ? arnLike(want, req.sourceArn) : op === 'ArnEquals' || op === 'StringEquals' ? want === req.sourceArn : op === 'StringLike' ? wildcardMatch(want, req.sourceArn) : false;
        if (!ok) return `source ARN condition ${op} ${want}`;
      } else if (k === 'aws:sourceaccount') {
        if (req.sourceArn.split(':')[4] !== want) return `source account condition ${want}`;
      } else {
        return `condition ${op} ${key}`;
      }
    }
  }
  return undefined;
}

/**
 * Whether the statements let `principal` invoke `resource` from `sourceArn`: `{ allowed: true,
 * sid }` naming the statement that allows it, or `{ allowed: false, reason }` saying what each
 * statement lacked.
 */
export function evaluatePolicy(statements: readonly PolicyStatement[], req: InvokeRequestContext): { allowed: true; sid: string } | { allowed: false; reason: string } {
  const misses: string[] = [];
  for (const s of statements) {
    const miss = statementMismatch(s, req);
    if (miss === undefined) return { allowed: true, sid: s.Sid };
    misses.push(`${s.Sid}: ${miss}`);
  }
  const base = `the resource-based policy of ${req.resource} does not allow ${req.principal} to call ${req.action ?? 'lambda:InvokeFunction'} from ${req.sourceArn}`;
  return { allowed: false, reason: statements.length ? `${base} (${misses.join('; ')})` : `${base} (the policy has no statements: add one with aws lambda add-permission)` };
}
