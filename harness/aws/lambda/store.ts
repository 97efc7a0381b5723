import { EventEmitter } from 'node:events';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { EventSink } from '../protocol/types.ts';
import { lambdaErrors } from './errors.ts';
import { policyDocument, statementOf, type AddPermissionInput, type PolicyStatement } from './policy.ts';
import { extractZip, ZipError } from './zip.ts';

/** The runtimes the harness runs function code in. */
export const SUPPORTED_RUNTIMES = ['nodejs20.x', 'nodejs22.x', 'python3.12'] as const;
export type SupportedRuntime = (typeof SUPPORTED_RUNTIMES)[number];

/** Runtimes Lambda no longer accepts for creating or updating functions. */
export const DEPRECATED_RUNTIMES = new Set([
  'nodejs', 'nodejs4.3', 'nodejs4.3-edge', 'nodejs6.10', 'nodejs8.10', 'nodejs10.x', 'nodejs12.x', 'nodejs14.x', 'nodejs16.x',
  'java8', 'python2.7', 'python3.6', 'python3.7', 'python3.8', 'dotnetcore1.0', 'dotnetcore2.0', 'dotnetcore2.1', 'dotnetcore3.1', 'dotnet6',
  'go1.x', 'ruby2.5', 'ruby2.7', 'provided',
]);

/** AWS's limit on the unzipped deployment package. */
export const MAX_UNZIPPED_BYTES = 262_144_000;

/** Environment variables Lambda sets itself and refuses in a function's configuration. */
export const RESERVED_ENV_KEYS = new Set([
  '_HANDLER', '_X_AMZN_TRACE_ID', 'AWS_DEFAULT_REGION', 'AWS_REGION', 'AWS_EXECUTION_ENV', 'AWS_LAMBDA_FUNCTION_NAME', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION', 'AWS_LAMBDA_INITIALIZATION_TYPE', 'AWS_LAMBDA_LOG_GROUP_NAME', 'AWS_LAMBDA_LOG_STREAM_NAME', 'AWS_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_LAMBDA_RUNTIME_API', 'LAMBDA_TASK_ROOT', 'LAMBDA_RUNTIME_DIR',
]);

/** One stored deployment package: the zip as uploaded and where it is unpacked. */
export interface FunctionCode {
  /** base64 SHA-256 of the zip (the API's CodeSha256) */
  sha256: string;
  size: number;
  /** the unzipped package: <codeRoot>/<function>/<hex sha>/ */
  dir: string;
  /** the zip as uploaded: <codeRoot>/<function>/<hex sha>.zip (GetFunction's Code.Location) */
  zipPath: string;
}

/** The settings of one version that invocations and GetFunctionConfiguration read. */
export interface VersionConfig {
  runtime: SupportedRuntime;
  handler: string;
  role: string;
  timeout: number;
  memorySize: number;
  description: string;
  environment?: Record<string, string>;
  architecture: 'x86_64' | 'arm64';
  tracingMode: 'Active' | 'PassThrough';
  ephemeralStorage: number;
  logGroup: string;
  code: FunctionCode;
}

export type FunctionState = 'Pending' | 'Active' | 'Inactive' | 'Failed';
export type UpdateStatus = 'Successful' | 'Failed' | 'InProgress';

export interface FunctionVersion {
  /** '$LATEST' or '1', '2', … */
  version: string;
  config: VersionConfig;
  lastModified: Date;
  revisionId: string;
  state: FunctionState;
  stateReason?: string;
  stateReasonCode?: string;
  lastUpdateStatus?: UpdateStatus;
  lastUpdateStatusReason?: string;
  lastUpdateStatusReasonCode?: string;
}

export interface FunctionAlias {
  name: string;
  arn: string;
  functionVersion: string;
  description: string;
  /** AdditionalVersionWeights: version → share of invocations (0–1) */
  weights?: Record<string, number>;
  revisionId: string;
}

export interface LambdaFunction {
  name: string;
  /** the unqualified ARN */
  arn: string;
  latest: FunctionVersion;
  /** what invocations of $LATEST run: the configuration before an update still in progress */
  live: VersionConfig;
  versions: Map<string, FunctionVersion>;
  lastVersionNumber: number;
  aliases: Map<string, FunctionAlias>;
  /** resource-based policies: '' for the function (unqualified), else by version or alias */
  policies: Map<string, PolicyStatement[]>;
  tags: Record<string, string>;
  /** cancels the pending state transition */
  cancelTransition?: () => void;
}

/** A function, version or alias as a request names it. */
export interface ResolvedTarget {
  fn: LambdaFunction;
  /** the qualifier the caller gave ('$LATEST', a version number or an alias name), if any */
  qualifier?: string;
  alias?: FunctionAlias;
  /** the version the qualifier designates ('$LATEST' when unqualified) */
  version: FunctionVersion;
  /** the ARN as addressed: unqualified, or qualified with the caller's qualifier */
  arn: string;
}

/**
 * What an environment needs to run one version's code (the runtime's FunctionSpec: the
 * composition hands it to runtime/lambda, which this folder never imports).
 */
export interface FunctionRunSpec {
  functionName: string;
  functionArn: string;
  version: string;
  runtime: SupportedRuntime;
  handler: string;
  architecture: 'arm64' | 'x86_64';
  memorySize: number;
  timeout: number;
  environment: Record<string, string>;
  codeDir: string;
  codeSha256: string;
  logGroup: string;
  role: string;
}

export interface FunctionSettings {
  runtime: SupportedRuntime;
  handler: string;
  role: string;
  timeout?: number;
  memorySize?: number;
  description?: string;
  environment?: Record<string, string>;
  architecture?: 'x86_64' | 'arm64';
  tracingMode?: 'Active' | 'PassThrough';
  ephemeralStorage?: number;
  logGroup?: string;
}

export interface LambdaStoreDeps {
  account: string;
  region: string;
  /** where deployment packages are kept and unpacked (<runDir>/lambda) */
  codeRoot: string;
  /** the run's clock: `after(awsSeconds, fn)` runs fn after a scaled AWS interval */
  timers: { after(awsSeconds: number, fn: () => void): () => void };
  events?: EventSink;
  now?: () => Date;
  /**
   * Whether a role ARN names a role the account has: undefined when the harness knows no roles
   * (then any syntactically valid ARN is accepted).
   */
  roleExists?: (roleArn: string) => boolean | undefined;
  /** AWS seconds from CreateFunction to Active (default 5) */
  activationSeconds?: number;
  /** AWS seconds an UpdateFunctionCode/Configuration stays InProgress (default 3) */
  updateSeconds?: number;
}

/** `{name, qualifier?}` from a function name, partial ARN or ARN (with an optional `:qualifier`). */
export function parseFunctionRef(ref: string): { name: string; qualifier?: string; region?: string; account?: string } | undefined {
  const m = /^(?:arn:aws[a-zA-Z-]*:lambda:([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):(\d{12}):function:|(\d{12}):function:)?([a-zA-Z0-9_.-]+)(?::(\$LATEST|[a-zA-Z0-9_-]+))?$/.exec(ref);
  if (!m) return undefined;
  return { name: m[4]!, ...(m[5] !== undefined ? { qualifier: m[5] } : {}), ...(m[1] ? { region: m[1] } : {}), ...((m[2] ?? m[3]) ? { account: (m[2] ?? m[3])! } : {}) };
}

/** The function ARN inside an API Gateway integration URI (`arn:aws:apigateway:…:lambda:path/2015-03-31/functions/<arn>/invocations`). */
export function functionArnOfIntegrationUri(uri: string): string | undefined {
  return /^arn:aws[a-zA-Z-]*:apigateway:[^:]+:lambda:path\/2015-03-31\/functions\/(.+)\/invocations$/.exec(uri)?.[1];
}

/** Lambda's LastModified: `2024-05-01T10:00:00.000+0000`. */
export function lastModifiedText(d: Date): string {
  return d.toISOString().replace('Z', '+0000');
}

function sameConfig(a: VersionConfig, b: VersionConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Lambda state: functions, their versions, aliases, resource policies and tags; the lifecycle
 * (Pending → Active after creation, LastUpdateStatus InProgress → Successful after an update)
 * on the run's clock. Emits `retire` ({ functionArn, version? }) when environments of old code
 * must end (an update took effect, a version or the function was deleted).
 */
export class LambdaStore extends EventEmitter {
  readonly account: string;
  readonly region: string;
  private readonly functions = new Map<string, LambdaFunction>();
  private readonly now: () => Date;
  private closed = false;

  constructor(private readonly deps: LambdaStoreDeps) {
    super();
    this.account = deps.account;
    this.region = deps.region;
    this.now = deps.now ?? (() => new Date());
  }

  functionArn(name: string): string {
    return `arn:aws:lambda:${this.region}:${this.account}:function:${name}`;
  }

  /** The ARN a caller's reference means, for "not found" messages. */
  arnOfRef(ref: string, qualifier?: string): string {
    const p = parseFunctionRef(ref);
    const q = qualifier ?? p?.qualifier;
    return `${this.functionArn(p?.name ?? ref)}${q ? `:${q}` : ''}`;
  }

  // ---- code ----

  /** Stores and unpacks a deployment package (once per function and content). */
  storeCode(functionName: string, zip: Buffer): FunctionCode {
    const digest = createHash('sha256').update(zip).digest();
    const hex = digest.toString('hex');
    const base = path.join(this.deps.codeRoot, functionName);
    const dir = path.join(base, hex);
    const zipPath = `${dir}.zip`;
    if (!fs.existsSync(dir)) {
      const tmp = `${dir}.tmp-${randomUUID().slice(0, 8)}`;
      try {
        extractZip(zip, tmp, { maxUncompressedBytes: MAX_UNZIPPED_BYTES });
      } catch (err) {
        fs.rmSync(tmp, { recursive: true, force: true });
        if (err instanceof ZipError && /unzipped size exceeds/.test(err.message)) throw lambdaErrors.invalid(`Unzipped size must be smaller than ${MAX_UNZIPPED_BYTES} bytes`);
        if (err instanceof ZipError) throw lambdaErrors.badZip();
        throw err;
      }
      fs.renameSync(tmp, dir);
      fs.writeFileSync(zipPath, zip);
    }
    return { sha256: digest.toString('base64'), size: zip.length, dir, zipPath };
  }

  // ---- functions ----

  private checkRole(role: string): void {
    if (this.deps.roleExists?.(role) === false) throw lambdaErrors.roleCannotBeAssumed();
  }

  private configOf(name: string, s: FunctionSettings, code: FunctionCode): VersionConfig {
    return {
      runtime: s.runtime,
      handler: s.handler,
      role: s.role,
      timeout: s.timeout ?? 3,
      memorySize: s.memorySize ?? 128,
      description: s.description ?? '',
      ...(s.environment ? { environment: { ...s.environment } } : {}),
      architecture: s.architecture ?? 'x86_64',
      tracingMode: s.tracingMode ?? 'PassThrough',
      ephemeralStorage: s.ephemeralStorage ?? 512,
      logGroup: s.logGroup ?? `/aws/lambda/${name}`,
      code,
    };
  }

  createFunction(name: string, settings: FunctionSettings, zip: Buffer, opts: { publish?: boolean; tags?: Record<string, string> } = {}): { fn: LambdaFunction; version: FunctionVersion } {
    if (this.functions.has(name)) throw lambdaErrors.functionExists(name);
    this.checkRole(settings.role);
    const code = this.storeCode(name, zip);
    if (this.functions.has(name)) throw lambdaErrors.functionExists(name);
    const config = this.configOf(name, settings, code);
    const now = this.now();
    const latest: FunctionVersion = {
      version: '$LATEST',
      config,
      lastModified: now,
      revisionId: randomUUID(),
      state: 'Pending',
      stateReason: 'The function is being created.',
      stateReasonCode: 'Creating',
    };
    const fn: LambdaFunction = {
      name,
      arn: this.functionArn(name),
      latest,
      live: config,
      versions: new Map(),
      lastVersionNumber: 0,
      aliases: new Map(),
      policies: new Map(),
      tags: { ...(opts.tags ?? {}) },
    };
    this.functions.set(name, fn);
    this.deps.events?.append('lambda.function.created', { functionName: name, arn: fn.arn, runtime: config.runtime, handler: config.handler, architecture: config.architecture, codeSha256: code.sha256, codeSize: code.size });
    let version = latest;
    if (opts.publish) version = this.newVersion(fn, 'Pending');
    fn.cancelTransition = this.deps.timers.after(this.deps.activationSeconds ?? 5, () => this.activate(fn));
    return { fn, version };
  }

  private activate(fn: LambdaFunction): void {
    fn.cancelTransition = undefined;
    if (this.closed || this.functions.get(fn.name) !== fn) return;
    for (const v of [fn.latest, ...fn.versions.values()]) {
      if (v.state !== 'Pending') continue;
      v.state = 'Active';
      delete v.stateReason;
      delete v.stateReasonCode;
      v.lastUpdateStatus = 'Successful';
      v.revisionId = randomUUID();
    }
    this.deps.events?.append('lambda.function.state', { functionName: fn.name, arn: fn.arn, state: 'Active' });
    this.emit('change', fn);
  }

  private newVersion(fn: LambdaFunction, state: FunctionState, description?: string): FunctionVersion {
    const n = String(++fn.lastVersionNumber);
    const v: FunctionVersion = {
      version: n,
      config: { ...fn.latest.config, ...(description !== undefined ? { description } : {}) },
      lastModified: this.now(),
      revisionId: randomUUID(),
      state,
      ...(state === 'Pending' ? { stateReason: 'The function is being created.', stateReasonCode: 'Creating' } : { lastUpdateStatus: 'Successful' as const }),
    };
    fn.versions.set(n, v);
    this.deps.events?.append('lambda.version.published', { functionName: fn.name, arn: `${fn.arn}:${n}`, version: n, codeSha256: v.config.code.sha256 });
    return v;
  }

  /** The function a name or ARN names (its qualifier, if any, ignored); ResourceNotFoundException otherwise. */
  getFunction(ref: string): LambdaFunction {
    const p = parseFunctionRef(ref);
    const fn = p && this.functions.get(p.name);
    if (!fn) throw lambdaErrors.functionNotFound(this.arnOfRef(ref));
    return fn;
  }

  findFunction(name: string): LambdaFunction | undefined {
    return this.functions.get(name);
  }

  listFunctions(): LambdaFunction[] {
    return [...this.functions.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * The function, version or alias a reference and an optional Qualifier name. A qualifier in the
   * ARN and a different Qualifier parameter: InvalidParameterValueException, as Lambda answers.
   */
  resolve(ref: string, qualifier?: string): ResolvedTarget {
    const p = parseFunctionRef(ref);
    if (p?.qualifier !== undefined && qualifier !== undefined && p.qualifier !== qualifier) {
      throw lambdaErrors.invalid('The derived qualifier from the function name does not match the specified qualifier.');
    }
    const q = qualifier ?? p?.qualifier;
    const fn = p && this.functions.get(p.name);
    if (!fn) throw lambdaErrors.functionNotFound(this.arnOfRef(ref, q));
    if (q === undefined) return { fn, version: fn.latest, arn: fn.arn };
    const arn = `${fn.arn}:${q}`;
    if (q === '$LATEST') return { fn, qualifier: q, version: fn.latest, arn };
    if (/^\d+$/.test(q)) {
      const v = fn.versions.get(q);
      if (!v) throw lambdaErrors.functionNotFound(arn);
      return { fn, qualifier: q, version: v, arn };
    }
    const alias = fn.aliases.get(q);
    if (!alias) throw lambdaErrors.functionNotFound(arn);
    const v = alias.functionVersion === '$LATEST' ? fn.latest : fn.versions.get(alias.functionVersion)!;
    return { fn, qualifier: q, alias, version: v, arn };
  }

  private assertUpdatable(fn: LambdaFunction): void {
    if (fn.latest.state === 'Pending' || fn.latest.lastUpdateStatus === 'InProgress') throw lambdaErrors.updateInProgress(fn.arn);
  }

  private checkRevision(current: string, given: string | undefined): void {
    if (given !== undefined && given !== current) throw lambdaErrors.revisionMismatch();
  }

  private beginUpdate(fn: LambdaFunction, config: VersionConfig, what: 'code' | 'configuration'): void {
    const v = fn.latest;
    v.config = config;
    v.lastModified = this.now();
    v.revisionId = randomUUID();
    v.lastUpdateStatus = 'InProgress';
    v.lastUpdateStatusReason = 'The function is being created.';
    v.lastUpdateStatusReasonCode = 'Creating';
    this.deps.events?.append('lambda.function.updated', { functionName: fn.name, arn: fn.arn, what, status: 'InProgress', codeSha256: config.code.sha256 });
    fn.cancelTransition = this.deps.timers.after(this.deps.updateSeconds ?? 3, () => this.finishUpdate(fn, what));
  }

  private finishUpdate(fn: LambdaFunction, what: 'code' | 'configuration'): void {
    fn.cancelTransition = undefined;
    if (this.closed || this.functions.get(fn.name) !== fn) return;
    const v = fn.latest;
    v.lastUpdateStatus = 'Successful';
    delete v.lastUpdateStatusReason;
    delete v.lastUpdateStatusReasonCode;
    v.revisionId = randomUUID();
    const changed = !sameConfig(fn.live, v.config);
    fn.live = v.config;
    this.deps.events?.append('lambda.function.updated', { functionName: fn.name, arn: fn.arn, what, status: 'Successful', codeSha256: v.config.code.sha256 });
    // invocations now run the new code: environments of the old code of $LATEST end
    if (changed) this.emit('retire', { functionArn: fn.arn, version: '$LATEST' });
    this.emit('change', fn);
  }

  updateFunctionCode(ref: string, zip: Buffer, opts: { publish?: boolean; revisionId?: string; architecture?: 'x86_64' | 'arm64'; dryRun?: boolean } = {}): FunctionVersion {
    const fn = this.getFunction(ref);
    this.checkRevision(fn.latest.revisionId, opts.revisionId);
    this.assertUpdatable(fn);
    const code = this.storeCode(fn.name, zip);
    const config = { ...fn.latest.config, code, ...(opts.architecture ? { architecture: opts.architecture } : {}) };
    if (opts.dryRun) return { ...fn.latest, config };
    this.beginUpdate(fn, config, 'code');
    if (opts.publish) return this.publishVersion(fn.name, {}, true);
    return fn.latest;
  }

  updateFunctionConfiguration(ref: string, patch: Partial<FunctionSettings>, opts: { revisionId?: string } = {}): FunctionVersion {
    const fn = this.getFunction(ref);
    this.checkRevision(fn.latest.revisionId, opts.revisionId);
    this.assertUpdatable(fn);
    if (patch.role !== undefined) this.checkRole(patch.role);
    const cur = fn.latest.config;
    const config: VersionConfig = { ...cur };
    for (const [k, v] of Object.entries(patch) as [keyof FunctionSettings, unknown][]) if (v !== undefined) (config as any)[k] = v;
    if (patch.environment !== undefined && Object.keys(patch.environment).length === 0) delete config.environment;
    this.beginUpdate(fn, config, 'configuration');
    return fn.latest;
  }

  /**
   * PublishVersion: a new version from $LATEST, or the newest version when neither code nor
   * configuration changed since it. `duringUpdate`: UpdateFunctionCode's own Publish.
   */
  publishVersion(ref: string, opts: { codeSha256?: string; description?: string; revisionId?: string }, duringUpdate = false): FunctionVersion {
    const fn = this.getFunction(ref);
    this.checkRevision(fn.latest.revisionId, opts.revisionId);
    if (!duringUpdate && fn.latest.lastUpdateStatus === 'InProgress') throw lambdaErrors.updateInProgress(fn.arn);
    if (opts.codeSha256 !== undefined && opts.codeSha256 !== fn.latest.config.code.sha256) {
      throw lambdaErrors.codeShaMismatch(opts.codeSha256, fn.latest.config.code.sha256);
    }
    const newest = fn.lastVersionNumber ? fn.versions.get(String(fn.lastVersionNumber)) : undefined;
    if (newest && sameConfig({ ...newest.config, description: '' }, { ...fn.latest.config, description: '' })) return newest;
    return this.newVersion(fn, fn.latest.state === 'Pending' ? 'Pending' : 'Active', opts.description ?? fn.latest.config.description);
  }

  listVersions(ref: string): FunctionVersion[] {
    const fn = this.getFunction(ref);
    return [fn.latest, ...[...fn.versions.values()].sort((a, b) => Number(a.version) - Number(b.version))];
  }

  deleteFunction(ref: string, qualifier?: string): void {
    const p = parseFunctionRef(ref);
    const q = qualifier ?? p?.qualifier;
    const fn = this.getFunction(ref);
    if (q !== undefined) {
      if (q === '$LATEST') throw lambdaErrors.invalid('$LATEST version cannot be deleted without deleting the function.');
      if (!/^\d+$/.test(q)) throw lambdaErrors.invalid('Deletion of aliases is not currently supported.');
      if (!fn.versions.has(q)) throw lambdaErrors.functionNotFound(`${fn.arn}:${q}`);
      const users = [...fn.aliases.values()].filter((a) => a.functionVersion === q || (a.weights && q in a.weights)).map((a) => a.name);
      if (users.length) throw lambdaErrors.versionInUse(users);
      fn.versions.delete(q);
      fn.policies.delete(q);
      this.deps.events?.append('lambda.version.deleted', { functionName: fn.name, arn: `${fn.arn}:${q}`, version: q });
      this.emit('retire', { functionArn: fn.arn, version: q });
      return;
    }
    fn.cancelTransition?.();
    this.functions.delete(fn.name);
    this.deps.events?.append('lambda.function.deleted', { functionName: fn.name, arn: fn.arn });
    this.emit('retire', { functionArn: fn.arn });
  }

  // ---- aliases ----

  private checkAliasTarget(fn: LambdaFunction, version: string, weights?: Record<string, number>): void {
    if (version !== '$LATEST' && !fn.versions.has(version)) throw lambdaErrors.functionNotFound(`${fn.arn}:${version}`);
    for (const [v, w] of Object.entries(weights ?? {})) {
      if (!fn.versions.has(v)) throw lambdaErrors.functionNotFound(`${fn.arn}:${v}`);
      if (v === version) throw lambdaErrors.invalid(`Invalid function version ${v}. Function version ${v} is already included in routing configuration.`);
      if (!(w >= 0 && w <= 1)) throw lambdaErrors.invalid(`Invalid weight ${w}: a weight is between 0.0 and 1.0.`);
    }
    if (weights && Object.keys(weights).length > 1) throw lambdaErrors.invalid('Number of items in AdditionalVersionWeights cannot be greater than 1');
    if (weights && Object.keys(weights).length && version === '$LATEST') throw lambdaErrors.invalid('$LATEST is not supported for an alias pointing to more than 1 version');
  }

  createAlias(ref: string, input: { name: string; functionVersion: string; description?: string; weights?: Record<string, number> }): FunctionAlias {
    const fn = this.getFunction(ref);
    const arn = `${fn.arn}:${input.name}`;
    if (fn.aliases.has(input.name)) throw lambdaErrors.aliasExists(arn);
    this.checkAliasTarget(fn, input.functionVersion, input.weights);
    const alias: FunctionAlias = {
      name: input.name,
      arn,
      functionVersion: input.functionVersion,
      description: input.description ?? '',
      ...(input.weights && Object.keys(input.weights).length ? { weights: { ...input.weights } } : {}),
      revisionId: randomUUID(),
    };
    fn.aliases.set(alias.name, alias);
    this.deps.events?.append('lambda.alias.created', { functionName: fn.name, alias: alias.name, arn, functionVersion: alias.functionVersion });
    return alias;
  }

  getAlias(ref: string, name: string): FunctionAlias {
    const fn = this.getFunction(ref);
    const a = fn.aliases.get(name);
    if (!a) throw lambdaErrors.aliasNotFound(`${fn.arn}:${name}`);
    return a;
  }

  updateAlias(ref: string, name: string, patch: { functionVersion?: string; description?: string; weights?: Record<string, number>; revisionId?: string }): FunctionAlias {
    const fn = this.getFunction(ref);
    const a = this.getAlias(ref, name);
    this.checkRevision(a.revisionId, patch.revisionId);
    const version = patch.functionVersion ?? a.functionVersion;
    const weights = patch.weights ?? a.weights;
    this.checkAliasTarget(fn, version, weights);
    a.functionVersion = version;
    if (patch.description !== undefined) a.description = patch.description;
    if (patch.weights !== undefined) {
      if (Object.keys(patch.weights).length) a.weights = { ...patch.weights };
      else delete a.weights;
    }
    a.revisionId = randomUUID();
    this.deps.events?.append('lambda.alias.updated', { functionName: fn.name, alias: a.name, arn: a.arn, functionVersion: a.functionVersion });
    return a;
  }

  listAliases(ref: string, functionVersion?: string): FunctionAlias[] {
    const fn = this.getFunction(ref);
    return [...fn.aliases.values()].filter((a) => functionVersion === undefined || a.functionVersion === functionVersion).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** DeleteAlias: idempotent, as Lambda's (204 for an alias that does not exist). */
  deleteAlias(ref: string, name: string): void {
    const fn = this.getFunction(ref);
    if (!fn.aliases.delete(name)) return;
    fn.policies.delete(name);
    this.deps.events?.append('lambda.alias.deleted', { functionName: fn.name, alias: name, arn: `${fn.arn}:${name}` });
  }

  /** The version an alias sends this invocation to (its AdditionalVersionWeights drawn with `random`). */
  routeAlias(alias: FunctionAlias, random: () => number = Math.random): string {
    let r = random();
    for (const [v, w] of Object.entries(alias.weights ?? {})) {
      if (r < w) return v;
      r -= w;
    }
    return alias.functionVersion;
  }

  // ---- policy ----

  private policyKey(fn: LambdaFunction, ref: string, qualifier?: string): { key: string; resource: string } {
    const t = this.resolve(ref, qualifier);
    if (t.fn !== fn) throw lambdaErrors.functionNotFound(t.arn);
    if (t.qualifier === undefined || t.qualifier === '$LATEST') return { key: '', resource: fn.arn };
    return { key: t.qualifier, resource: t.arn };
  }

  addPermission(ref: string, qualifier: string | undefined, input: AddPermissionInput, opts: { revisionId?: string } = {}): PolicyStatement {
    const fn = this.getFunction(ref);
    this.checkRevision(fn.latest.revisionId, opts.revisionId);
    const { key, resource } = this.policyKey(fn, ref, qualifier);
    const list = fn.policies.get(key) ?? [];
    if (list.some((s) => s.Sid === input.StatementId)) throw lambdaErrors.statementExists(input.StatementId);
    const st = statementOf(input, resource);
    list.push(st);
    fn.policies.set(key, list);
    this.deps.events?.append('lambda.permission.added', { functionName: fn.name, resource, sid: st.Sid, principal: input.Principal, action: st.Action, ...(input.SourceArn ? { sourceArn: input.SourceArn } : {}) });
    return st;
  }

  removePermission(ref: string, qualifier: string | undefined, sid: string, opts: { revisionId?: string } = {}): void {
    const fn = this.getFunction(ref);
    this.checkRevision(fn.latest.revisionId, opts.revisionId);
    const { key, resource } = this.policyKey(fn, ref, qualifier);
    const list = fn.policies.get(key);
    if (!list || list.length === 0) throw lambdaErrors.noPolicy();
    const i = list.findIndex((s) => s.Sid === sid);
    if (i < 0) throw lambdaErrors.statementNotFound(sid);
    list.splice(i, 1);
    if (list.length === 0) fn.policies.delete(key);
    this.deps.events?.append('lambda.permission.removed', { functionName: fn.name, resource, sid });
  }

  /** The statements that apply to the function as addressed (unqualified and $LATEST share one policy). */
  statements(ref: string, qualifier?: string): PolicyStatement[] {
    const fn = this.getFunction(ref);
    return fn.policies.get(this.policyKey(fn, ref, qualifier).key) ?? [];
  }

  getPolicy(ref: string, qualifier?: string): { policy: string; revisionId: string } {
    const st = this.statements(ref, qualifier);
    if (st.length === 0) throw lambdaErrors.noPolicy();
    return { policy: policyDocument(st), revisionId: this.getFunction(ref).latest.revisionId };
  }

  // ---- tags ----

  private byArn(arn: string): LambdaFunction {
    const p = parseFunctionRef(arn);
    const fn = p && this.functions.get(p.name);
    if (!fn) throw lambdaErrors.functionNotFound(arn);
    return fn;
  }

  tagResource(arn: string, tags: Record<string, string>): void {
    const fn = this.byArn(arn);
    Object.assign(fn.tags, tags);
  }

  untagResource(arn: string, keys: string[]): void {
    const fn = this.byArn(arn);
    for (const k of keys) delete fn.tags[k];
  }

  listTags(arn: string): Record<string, string> {
    return { ...this.byArn(arn).tags };
  }

  // ---- invocation ----

  /**
   * What an invocation of a target runs: published versions their own code; $LATEST the code
   * that is live (the previous one while an update is InProgress). Throws
   * ResourceConflictException while the function is Pending.
   */
  runSpec(t: ResolvedTarget, version: string): FunctionRunSpec {
    const v = version === '$LATEST' ? t.fn.latest : t.fn.versions.get(version);
    if (!v) throw lambdaErrors.functionNotFound(`${t.fn.arn}:${version}`);
    if (v.state !== 'Active') throw lambdaErrors.notActive(v.state);
    const c = version === '$LATEST' ? t.fn.live : v.config;
    return {
      functionName: t.fn.name,
      functionArn: t.fn.arn,
      version,
      runtime: c.runtime,
      handler: c.handler,
      architecture: c.architecture,
      memorySize: c.memorySize,
      timeout: c.timeout,
      environment: { ...(c.environment ?? {}) },
      codeDir: c.code.dir,
      codeSha256: c.code.sha256,
      logGroup: c.logGroup,
      role: c.role,
    };
  }

  /** Cancels pending state transitions (teardown). */
  close(): void {
    this.closed = true;
    for (const fn of this.functions.values()) fn.cancelTransition?.();
  }
}
