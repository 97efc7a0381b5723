import { AwsError } from '../protocol/errors.ts';
import type { SecretsManagerStore } from './store.ts';

const PREFIX = 'ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed';

/** The parts of a Secrets Manager `valueFrom` (aws-semantics §4). */
export interface EcsSecretReference {
  /** the secret ARN as written (full or partial), without the json-key/stage/version fields */
  secretArn: string;
  jsonKey?: string;
  versionStage?: string;
  versionId?: string;
}

/**
 * Parses `arn:aws:secretsmanager:<r>:<a>:secret:<name>[-XXXXXX][:json-key:version-stage:version-id]`.
 * Empty fields are omitted fields (`…:secret:app-AbCdEf:username1::`). Returns undefined for
 * anything that is not a Secrets Manager ARN (ECS treats those as SSM parameters).
 */
export function parseEcsSecretValueFrom(valueFrom: string): EcsSecretReference | undefined {
  const parts = valueFrom.split(':');
  if (parts.length < 7 || parts[0] !== 'arn' || parts[2] !== 'secretsmanager' || parts[5] !== 'secret' || !parts[6]) return undefined;
  const ref: EcsSecretReference = { secretArn: parts.slice(0, 7).join(':') };
  if (parts[7]) ref.jsonKey = parts[7];
  if (parts[8]) ref.versionStage = parts[8];
  if (parts[9]) ref.versionId = parts[9];
  return ref;
}

/**
 * Resolves a container `secrets[].valueFrom` the way the ECS agent does at task start, through
 * the Secrets Manager store. Returns the value, or throws an Error whose message is exactly the
 * task's stoppedReason (stopCode TaskFailedToStart):
 * - secret missing: `…failed to fetch secret <arn> from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret.`
 * - JSON key missing: `…retrieved secret from Secrets Manager did not contain json key <KEY>`
 * Other API errors (a secret scheduled for deletion → InvalidRequestException, a missing
 * version/stage) appear in the same `<Code>: <message>` form.
 */
export function resolveEcsSecretValueFrom(store: SecretsManagerStore, valueFrom: string): string {
  const ref = parseEcsSecretValueFrom(valueFrom);
  if (!ref) {
    // not a Secrets Manager ARN: ECS reads it as an SSM parameter, which the harness does not emulate
    throw new Error(`${PREFIX}: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: ${valueFrom}`);
  }
  const asm = `${PREFIX}: unable to retrieve secret from asm: service call has been retried 1 time(s)`;
  let value;
  try {
    value = store.getSecretValue(ref.secretArn, { versionStage: ref.versionStage, versionId: ref.versionId });
  } catch (e) {
    if (e instanceof AwsError) throw new Error(`${asm}: failed to fetch secret ${ref.secretArn} from secrets manager: ${e.code}: ${e.message}`);
    throw e;
  }
  if (value.secretString === undefined) {
    // [UNVERIFIED wording] ECS injects SecretString only
    throw new Error(`${asm}: secret ${ref.secretArn} has no SecretString (binary secrets cannot be injected)`);
  }
  if (ref.jsonKey === undefined) return value.secretString;
  let obj: unknown;
  try {
    obj = JSON.parse(value.secretString);
  } catch {
    obj = undefined;
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
    // [UNVERIFIED wording] the agent fails to unmarshal a non-object SecretString when a key is asked for
    throw new Error(`${asm}: failed to unmarshal secret value of secret ${ref.secretArn} into a JSON object to look up json key ${ref.jsonKey}`);
  }
  const rec = obj as Record<string, unknown>;
  if (!(ref.jsonKey in rec)) throw new Error(`${asm}: retrieved secret from Secrets Manager did not contain json key ${ref.jsonKey}`);
  const v = rec[ref.jsonKey];
  return typeof v === 'string' ? v : JSON.stringify(v);
}
