import { randomInt, randomUUID } from 'node:crypto';
import { AwsError } from '../protocol/errors.ts';
import type { EventSink } from '../protocol/types.ts';

export interface SecretsManagerStoreDeps {
  account: string;
  region: string;
  now?: () => Date;
  events?: EventSink;
}

export interface SecretVersion {
  versionId: string;
  secretString?: string;
  /** base64, as the JSON wire carries blobs */
  secretBinary?: string;
  createdDate: Date;
  stages: string[];
}

export interface Secret {
  arn: string;
  name: string;
  description?: string;
  kmsKeyId?: string;
  tags: { Key: string; Value: string }[];
  createdDate: Date;
  lastChangedDate: Date;
  lastAccessedDate?: Date;
  /** set while scheduled for deletion */
  deletedDate?: Date;
  deletionDate?: Date;
  /** in creation order */
  versions: SecretVersion[];
}

export interface SecretValue {
  arn: string;
  name: string;
  versionId: string;
  secretString?: string;
  secretBinary?: string;
  versionStages: string[];
  createdDate: Date;
}

export const AWSCURRENT = 'AWSCURRENT';
export const AWSPREVIOUS = 'AWSPREVIOUS';

const NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export const smErrors = {
  notFound: () => new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret."),
  versionNotFound: (what: string) => new AwsError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for ${what}`),
  exists: (name: string) => new AwsError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`),
  versionExists: () => new AwsError('ResourceExistsException', "You can't modify an existing version, you can only create a new version."),
  invalidParameter: (msg: string) => new AwsError('InvalidParameterException', msg),
  invalidRequest: (msg: string) => new AwsError('InvalidRequestException', msg),
  markedForDeletion: () =>
    new AwsError('InvalidRequestException', "You can't perform this operation on the secret because it was marked for deletion."),
};

/**
 * Secrets Manager state: secrets with versions and staging labels (AWSCURRENT moves to each
 * new version; the one it left becomes AWSPREVIOUS), scheduled deletion and restore.
 */
export class SecretsManagerStore {
  readonly account: string;
  readonly region: string;
  readonly now: () => Date;
  private readonly events?: EventSink;
  private readonly secrets = new Map<string, Secret>(); // by ARN

  constructor(deps: SecretsManagerStoreDeps) {
    this.account = deps.account;
    this.region = deps.region;
    this.now = deps.now ?? (() => new Date());
    this.events = deps.events;
  }

  private get arnPrefix(): string {
    return `arn:aws:secretsmanager:${this.region}:${this.account}:secret:`;
  }

  createSecret(
    name: string,
    secretString?: string,
    opts: { secretBinary?: string; description?: string; kmsKeyId?: string; tags?: { Key: string; Value: string }[]; clientRequestToken?: string } = {},
  ): { secret: Secret; version?: SecretVersion } {
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw smErrors.invalidParameter('Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!');
    }
    if (secretString !== undefined && opts.secretBinary !== undefined) {
      throw smErrors.invalidParameter("You can't specify both a binary secret value and a string secret value in the same secret.");
    }
    const existing = this.findByName(name);
    if (existing) {
      if (existing.deletedDate) throw smErrors.invalidRequest("You can't create this secret because a secret with this name is already scheduled for deletion.");
      throw smErrors.exists(name);
    }
    const now = this.now();
    let suffix = '';
    for (let i = 0; i < 6; i++) suffix += ALNUM[randomInt(ALNUM.length)];
    const secret: Secret = {
      arn: `${this.arnPrefix}${name}-${suffix}`,
      name,
      description: opts.description,
      kmsKeyId: opts.kmsKeyId,
      tags: opts.tags ?? [],
      createdDate: now,
      lastChangedDate: now,
      versions: [],
    };
    this.secrets.set(secret.arn, secret);
    let version: SecretVersion | undefined;
    if (secretString !== undefined || opts.secretBinary !== undefined) {
      version = this.addVersion(secret, { secretString, secretBinary: opts.secretBinary }, opts.clientRequestToken, [AWSCURRENT]);
    }
    this.events?.append('secretsmanager.secret.created', { name, arn: secret.arn });
    return { secret, version };
  }

  /**
   * Finds a secret by name, full ARN, or partial ARN (an ARN without the 6-character suffix),
   * including secrets scheduled for deletion. Throws ResourceNotFoundException.
   */
  describeSecret(secretId: string): Secret {
    const s = this.find(secretId);
    if (!s) throw smErrors.notFound();
    return s;
  }

  /** Like describeSecret, but a secret scheduled for deletion is an InvalidRequestException. */
  private live(secretId: string): Secret {
    const s = this.describeSecret(secretId);
    if (s.deletedDate) throw smErrors.markedForDeletion();
    return s;
  }

  listSecrets(opts: { includePlannedDeletion?: boolean } = {}): Secret[] {
    return [...this.secrets.values()].filter((s) => opts.includePlannedDeletion || !s.deletedDate);
  }

  getSecretValue(secretId: string, opts: { versionStage?: string; versionId?: string } = {}): SecretValue {
    const s = this.live(secretId);
    let v: SecretVersion | undefined;
    if (opts.versionId !== undefined) {
      v = s.versions.find((x) => x.versionId === opts.versionId);
      if (!v) throw smErrors.versionNotFound(`VersionId: ${opts.versionId}`);
      if (opts.versionStage !== undefined && !v.stages.includes(opts.versionStage)) {
        throw smErrors.invalidRequest(`The staging label ${opts.versionStage} is not attached to version ${opts.versionId}.`);
      }
    } else {
      const stage = opts.versionStage ?? AWSCURRENT;
      v = s.versions.find((x) => x.stages.includes(stage));
      if (!v) throw smErrors.versionNotFound(`staging label: ${stage}`);
    }
    const now = this.now();
    s.lastAccessedDate = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
    return {
      arn: s.arn,
      name: s.name,
      versionId: v.versionId,
      secretString: v.secretString,
      secretBinary: v.secretBinary,
      versionStages: [...v.stages],
      createdDate: v.createdDate,
    };
  }

  /** A new version; AWSCURRENT (the default stage) moves to it, the old current becomes AWSPREVIOUS. */
  putSecretValue(
    secretId: string,
    value: { secretString?: string; secretBinary?: string },
    opts: { clientRequestToken?: string; versionStages?: string[] } = {},
  ): { secret: Secret; version: SecretVersion } {
    const s = this.live(secretId);
    if (value.secretString !== undefined && value.secretBinary !== undefined) {
      throw smErrors.invalidParameter("You can't specify both a binary secret value and a string secret value in the same secret.");
    }
    if (value.secretString === undefined && value.secretBinary === undefined) {
      throw smErrors.invalidParameter('You must provide either SecretString or SecretBinary.');
    }
    if (opts.clientRequestToken !== undefined) {
      const same = s.versions.find((v) => v.versionId === opts.clientRequestToken);
      if (same) {
        if (same.secretString === value.secretString && same.secretBinary === value.secretBinary) return { secret: s, version: same };
        throw smErrors.versionExists();
      }
    }
    const version = this.addVersion(s, value, opts.clientRequestToken, opts.versionStages ?? [AWSCURRENT]);
    this.events?.append('secretsmanager.secret.version', { name: s.name, versionId: version.versionId });
    return { secret: s, version };
  }

  updateSecret(
    secretId: string,
    changes: { description?: string; kmsKeyId?: string; secretString?: string; secretBinary?: string; clientRequestToken?: string },
  ): { secret: Secret; version?: SecretVersion } {
    const s = this.live(secretId);
    if (changes.description !== undefined) s.description = changes.description;
    if (changes.kmsKeyId !== undefined) s.kmsKeyId = changes.kmsKeyId;
    s.lastChangedDate = this.now();
    if (changes.secretString === undefined && changes.secretBinary === undefined) return { secret: s };
    return this.putSecretValue(s.arn, { secretString: changes.secretString, secretBinary: changes.secretBinary }, { clientRequestToken: changes.clientRequestToken });
  }

  /** Schedules deletion (7–30 days, default 30) or deletes at once with forceDeleteWithoutRecovery. */
  deleteSecret(secretId: string, opts: { recoveryWindowInDays?: number; forceDeleteWithoutRecovery?: boolean } = {}): { secret: Secret; deletionDate: Date } {
    if (opts.forceDeleteWithoutRecovery && opts.recoveryWindowInDays !== undefined) {
      throw smErrors.invalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
    }
    const days = opts.recoveryWindowInDays ?? 30;
    if (!opts.forceDeleteWithoutRecovery && (days < 7 || days > 30)) {
      throw smErrors.invalidParameter('The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).');
    }
    const s = this.describeSecret(secretId);
    const now = this.now();
    if (opts.forceDeleteWithoutRecovery) {
      this.secrets.delete(s.arn);
      this.events?.append('secretsmanager.secret.deleted', { name: s.name, force: true });
      return { secret: s, deletionDate: now };
    }
    if (s.deletedDate) throw smErrors.markedForDeletion();
    s.deletedDate = now;
    s.deletionDate = new Date(now.getTime() + days * 86_400_000);
    this.events?.append('secretsmanager.secret.deleted', { name: s.name, recoveryWindowInDays: days });
    return { secret: s, deletionDate: s.deletionDate };
  }

  restoreSecret(secretId: string): Secret {
    const s = this.describeSecret(secretId);
    s.deletedDate = undefined;
    s.deletionDate = undefined;
    return s;
  }

  tagResource(secretId: string, tags: { Key: string; Value: string }[]): void {
    const s = this.describeSecret(secretId);
    for (const t of tags) {
      s.tags = s.tags.filter((x) => x.Key !== t.Key);
      s.tags.push({ Key: t.Key, Value: t.Value });
    }
  }

  untagResource(secretId: string, keys: string[]): void {
    const s = this.describeSecret(secretId);
    s.tags = s.tags.filter((t) => !keys.includes(t.Key));
  }

  /** versionId → stages, for versions that have any (AWS's VersionIdsToStages). */
  versionsToStages(s: Secret): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const v of s.versions) if (v.stages.length) out[v.versionId] = [...v.stages];
    return out;
  }

  private addVersion(s: Secret, value: { secretString?: string; secretBinary?: string }, token: string | undefined, stages: string[]): SecretVersion {
    if (token !== undefined && (token.length < 32 || token.length > 64)) {
      throw smErrors.invalidParameter('ClientRequestToken must be between 32 and 64 characters long.');
    }
    const version: SecretVersion = { versionId: token ?? randomUUID(), ...value, createdDate: this.now(), stages: [] };
    for (const stage of new Set(stages)) {
      for (const other of s.versions) {
        if (!other.stages.includes(stage)) continue;
        other.stages = other.stages.filter((x) => x !== stage);
        if (stage === AWSCURRENT) {
          for (const o of s.versions) o.stages = o.stages.filter((x) => x !== AWSPREVIOUS);
          other.stages.push(AWSPREVIOUS);
        }
      }
      version.stages.push(stage);
    }
    s.versions.push(version);
    s.lastChangedDate = version.createdDate;
    return version;
  }

  private findByName(name: string): Secret | undefined {
    for (const s of this.secrets.values()) if (s.name === name) return s;
    return undefined;
  }

  private find(secretId: string): Secret | undefined {
    if (typeof secretId !== 'string' || secretId === '') return undefined;
    if (!secretId.startsWith('arn:')) return this.findByName(secretId);
    const exact = this.secrets.get(secretId);
    if (exact) return exact;
    // partial ARN: arn:aws:secretsmanager:<r>:<a>:secret:<name> (no -XXXXXX suffix)
    if (!secretId.startsWith(this.arnPrefix)) return undefined;
    return this.findByName(secretId.slice(this.arnPrefix.length));
  }
}
