import { AwsError } from '../protocol/errors.ts';
import type { ServiceProvider } from '../protocol/types.ts';
import { Params } from '../protocol/validate.ts';
import { smErrors, type Secret, type SecretsManagerStore } from './store.ts';

const V = 'InvalidParameterException';

type Tag = { Key: string; Value: string };

function tagsParam(p: Params, name: string): Tag[] | undefined {
  const list = p.optList<Record<string, unknown>>(name);
  return list?.map((t) => {
    if (!t || typeof t.Key !== 'string') throw smErrors.invalidParameter(`${name} must be a list of {Key, Value}`);
    return { Key: t.Key, Value: typeof t.Value === 'string' ? t.Value : '' };
  });
}

function secretEntry(store: SecretsManagerStore, s: Secret, versionsKey: 'VersionIdsToStages' | 'SecretVersionsToStages') {
  return {
    ARN: s.arn,
    Name: s.name,
    Description: s.description,
    KmsKeyId: s.kmsKeyId,
    LastChangedDate: s.lastChangedDate,
    LastAccessedDate: s.lastAccessedDate,
    DeletedDate: s.deletedDate,
    Tags: s.tags.length ? s.tags : undefined,
    [versionsKey]: store.versionsToStages(s),
    CreatedDate: s.createdDate,
  };
}

/** ListSecrets Filters: prefix match per key, `!` negates (as AWS documents). */
function matchesFilters(s: Secret, filters: { Key?: string; Values?: string[] }[]): boolean {
  return filters.every((f) => {
    const fields = (() => {
      switch (f.Key) {
        case 'name': return [s.name];
        case 'description': return [s.description ?? ''];
        case 'tag-key': return s.tags.map((t) => t.Key);
        case 'tag-value': return s.tags.map((t) => t.Value);
        case 'all': return [s.name, s.description ?? '', ...s.tags.flatMap((t) => [t.Key, t.Value])];
        default: throw smErrors.invalidParameter(`Invalid filter key: ${f.Key}. Valid keys are description, name, tag-key, tag-value, primary-region, owning-service, all.`);
      }
    })();
    return (f.Values ?? []).some((v) => {
      const neg = v.startsWith('!');
      const needle = (neg ? v.slice(1) : v).toLowerCase();
      const hit = fields.some((x) => x.toLowerCase().startsWith(needle));
      return neg ? !hit : hit;
    });
  });
}

/** AWS Secrets Manager (JSON 1.1). */
export function createSecretsManagerProvider(store: SecretsManagerStore): ServiceProvider {
  return {
    serviceName: 'secretsmanager',
    protocol: 'json',
    targetPrefix: 'secretsmanager',
    validationErrorCode: V,
    operations: {
      CreateSecret(input) {
        const p = new Params(input, V);
        const { secret, version } = store.createSecret(p.str('Name'), p.optStr('SecretString'), {
          secretBinary: p.optStr('SecretBinary'),
          description: p.optStr('Description'),
          kmsKeyId: p.optStr('KmsKeyId'),
          tags: tagsParam(p, 'Tags'),
          clientRequestToken: p.optStr('ClientRequestToken'),
        });
        return { ARN: secret.arn, Name: secret.name, VersionId: version?.versionId };
      },

      GetSecretValue(input) {
        const p = new Params(input, V);
        const v = store.getSecretValue(p.str('SecretId'), { versionId: p.optStr('VersionId'), versionStage: p.optStr('VersionStage') });
        return {
          ARN: v.arn,
          Name: v.name,
          VersionId: v.versionId,
          SecretString: v.secretString,
          SecretBinary: v.secretBinary,
          VersionStages: v.versionStages,
          CreatedDate: v.createdDate,
        };
      },

      PutSecretValue(input) {
        const p = new Params(input, V);
        const { secret, version } = store.putSecretValue(
          p.str('SecretId'),
          { secretString: p.optStr('SecretString'), secretBinary: p.optStr('SecretBinary') },
          { clientRequestToken: p.optStr('ClientRequestToken'), versionStages: p.optStrList('VersionStages') },
        );
        return { ARN: secret.arn, Name: secret.name, VersionId: version.versionId, VersionStages: [...version.stages] };
      },

      UpdateSecret(input) {
        const p = new Params(input, V);
        const { secret, version } = store.updateSecret(p.str('SecretId'), {
          description: p.optStr('Description'),
          kmsKeyId: p.optStr('KmsKeyId'),
          secretString: p.optStr('SecretString'),
          secretBinary: p.optStr('SecretBinary'),
          clientRequestToken: p.optStr('ClientRequestToken'),
        });
        return { ARN: secret.arn, Name: secret.name, VersionId: version?.versionId };
      },

      DescribeSecret(input) {
        const p = new Params(input, V);
        return secretEntry(store, store.describeSecret(p.str('SecretId')), 'VersionIdsToStages');
      },

      ListSecrets(input) {
        const p = new Params(input, V);
        const filters = p.optList<{ Key?: string; Values?: string[] }>('Filters') ?? [];
        let list = store.listSecrets({ includePlannedDeletion: p.optBool('IncludePlannedDeletion') === true }).filter((s) => matchesFilters(s, filters));
        if (p.optEnum('SortOrder', ['asc', 'desc'] as const) === 'desc') list = list.reverse();
        const max = p.optInt('MaxResults') ?? 100;
        if (max < 1 || max > 100) throw smErrors.invalidParameter('MaxResults must be between 1 and 100.');
        let start = 0;
        const token = p.optStr('NextToken');
        if (token !== undefined) {
          const m = /^sm-page-(\d+)$/.exec(Buffer.from(token, 'base64').toString('utf8'));
          if (!m) throw new AwsError('InvalidNextTokenException', 'The NextToken value is invalid.');
          start = Number(m[1]);
        }
        const page = list.slice(start, start + max);
        const end = start + page.length;
        return {
          SecretList: page.map((s) => secretEntry(store, s, 'SecretVersionsToStages')),
          NextToken: end < list.length ? Buffer.from(`sm-page-${end}`).toString('base64') : undefined,
        };
      },

      DeleteSecret(input) {
        const p = new Params(input, V);
        const { secret, deletionDate } = store.deleteSecret(p.str('SecretId'), {
          recoveryWindowInDays: p.optInt('RecoveryWindowInDays'),
          forceDeleteWithoutRecovery: p.optBool('ForceDeleteWithoutRecovery'),
        });
        return { ARN: secret.arn, Name: secret.name, DeletionDate: deletionDate };
      },

      RestoreSecret(input) {
        const p = new Params(input, V);
        const s = store.restoreSecret(p.str('SecretId'));
        return { ARN: s.arn, Name: s.name };
      },

      TagResource(input) {
        const p = new Params(input, V);
        const tags = tagsParam(p, 'Tags');
        if (!tags) throw smErrors.invalidParameter('Tags is required');
        store.tagResource(p.str('SecretId'), tags);
        return {};
      },

      UntagResource(input) {
        const p = new Params(input, V);
        store.untagResource(p.str('SecretId'), p.strList('TagKeys'));
        return {};
      },
    },
  };
}
