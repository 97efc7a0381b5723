import { createHash } from 'node:crypto';
import type { RequestContext, ServiceProvider } from '../protocol/types.ts';

export interface StsIdentity {
  /** an IAM user name; omitted means the account root (arn:aws:iam::<acct>:root) */
  userName?: string;
}

/** The caller GetCallerIdentity reports for an account. */
export function callerIdentity(account: string, identity: StsIdentity = {}): { UserId: string; Account: string; Arn: string } {
  if (!identity.userName) return { UserId: account, Account: account, Arn: `arn:aws:iam::${account}:root` };
  // IAM user ids are 'AIDA' + 17 upper-case alphanumerics; derive a stable one from the name
  const hex = createHash('sha256').update(`${account}/${identity.userName}`).digest('hex').toUpperCase();
  const id = `AIDA${hex.replace(/[^A-Z0-9]/g, '').slice(0, 17)}`;
  return { UserId: id, Account: account, Arn: `arn:aws:iam::${account}:user/${identity.userName}` };
}

/** AWS STS (query protocol): GetCallerIdentity only. */
export function createStsProvider(identity: StsIdentity = {}): ServiceProvider {
  return {
    serviceName: 'sts',
    protocol: 'query',
    xmlNamespace: 'https://sts.amazonaws.com/doc/2011-06-15/',
    validationErrorCode: 'ValidationError',
    operations: {
      GetCallerIdentity(_input: unknown, ctx: RequestContext) {
        return callerIdentity(ctx.account, identity);
      },
    },
  };
}
