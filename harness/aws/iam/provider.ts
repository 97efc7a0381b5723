import type { ServiceProvider } from '../protocol/types.ts';
import { iamErrors, patternError, type IamRole, type IamStore } from './store.ts';

export const IAM_XMLNS = 'https://iam.amazonaws.com/doc/2010-05-08/';

type Input = Record<string, any>;

/**
 * The Role shape on the wire, in the model's member order. IAM sends policy documents
 * URL-encoded (RFC 3986); botocore and the SDKs decode them. ListRoles omits Tags and
 * RoleLastUsed, GetRole carries them.
 */
function roleOut(r: IamRole, detail: boolean): Record<string, unknown> {
  return {
    Path: r.Path,
    RoleName: r.RoleName,
    RoleId: r.RoleId,
    Arn: r.Arn,
    CreateDate: r.CreateDate,
    AssumeRolePolicyDocument: encodeURIComponent(r.AssumeRolePolicyDocument),
    ...(r.Description !== undefined ? { Description: r.Description } : {}),
    MaxSessionDuration: r.MaxSessionDuration,
    ...(detail && r.Tags.length ? { Tags: r.Tags } : {}),
    ...(detail ? { RoleLastUsed: {} } : {}),
  };
}

function roleName(i: Input): string {
  const v = i.RoleName;
  if (v === undefined || v === null || v === '') {
    throw iamErrors.validation("1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null");
  }
  return String(v);
}

/** AWS Identity and Access Management (query protocol, 2010-05-08): GetRole and ListRoles over an IamStore. */
export function createIamProvider(store: IamStore): ServiceProvider {
  return {
    serviceName: 'iam',
    protocol: 'query',
    xmlNamespace: IAM_XMLNS,
    validationErrorCode: 'ValidationError',
    operations: {
      GetRole(i: Input) {
        return { Role: roleOut(store.getRole(roleName(i)), true) };
      },
      ListRoles(i: Input) {
        const prefix = i.PathPrefix === undefined ? '/' : String(i.PathPrefix);
        if (!/^\u002F[\u0021-\u007F]*$/.test(prefix)) throw patternError('pathPrefix', prefix, '\\u002F[\\u0021-\\u007F]*');
        let max = 100;
        if (i.MaxItems !== undefined) {
          max = Number(i.MaxItems);
          if (!Number.isInteger(max) || max < 1 || max > 1000) {
            throw iamErrors.validation(`1 validation error detected: Value '${String(i.MaxItems)}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000`);
          }
        }
        let start = 0;
        if (i.Marker !== undefined) {
          const m = /^r(\d+)$/.exec(Buffer.from(String(i.Marker), 'base64').toString('utf8'));
          if (!m) throw iamErrors.validation('Invalid Marker.');
          start = Number(m[1]);
        }
        const all = store.listRoles(prefix);
        const page = all.slice(start, start + max);
        const end = start + page.length;
        const truncated = end < all.length;
        return {
          Roles: page.map((r) => roleOut(r, false)),
          IsTruncated: truncated,
          ...(truncated ? { Marker: Buffer.from(`r${end}`).toString('base64') } : {}),
        };
      },
    },
  };
}
