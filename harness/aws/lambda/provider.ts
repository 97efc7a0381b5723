import type { RestJsonProvider, RestRequest, RestResponse, RestRoute } from '../protocol/rest.ts';
import type { AwsError } from '../protocol/errors.ts';
import type { EventSink, RequestContext } from '../protocol/types.ts';
import { lambdaErrors } from './errors.ts';
import { invokeTarget, type FunctionRunner, type InvocationType } from './invoke.ts';
import {
  DEPRECATED_RUNTIMES,
  lastModifiedText,
  parseFunctionRef,
  RESERVED_ENV_KEYS,
  SUPPORTED_RUNTIMES,
  type FunctionAlias,
  type FunctionSettings,
  type FunctionVersion,
  type LambdaFunction,
  type LambdaStore,
  type SupportedRuntime,
} from './store.ts';

/**
 * The routes, as the botocore model (lambda 2015-03-31) writes each operation's http.method and
 * requestUri. ListFunctions' `/2015-03-31/functions/` is written without its trailing slash: CLI
 * v1 (botocore 1.4x) sends the path without it, v2 with it, and a route matches both that way.
 */
export const LAMBDA_ROUTES: readonly RestRoute[] = [
  { method: 'POST', uri: '/2015-03-31/functions', operation: 'CreateFunction' },
  { method: 'GET', uri: '/2015-03-31/functions', operation: 'ListFunctions' },
  { method: 'GET', uri: '/2015-03-31/functions/{FunctionName}', operation: 'GetFunction' },
  { method: 'DELETE', uri: '/2015-03-31/functions/{FunctionName}', operation: 'DeleteFunction' },
  { method: 'GET', uri: '/2015-03-31/functions/{FunctionName}/configuration', operation: 'GetFunctionConfiguration' },
  { method: 'PUT', uri: '/2015-03-31/functions/{FunctionName}/configuration', operation: 'UpdateFunctionConfiguration' },
  { method: 'PUT', uri: '/2015-03-31/functions/{FunctionName}/code', operation: 'UpdateFunctionCode' },
  { method: 'POST', uri: '/2015-03-31/functions/{FunctionName}/versions', operation: 'PublishVersion' },
  { method: 'GET', uri: '/2015-03-31/functions/{FunctionName}/versions', operation: 'ListVersionsByFunction' },
  { method: 'POST', uri: '/2015-03-31/functions/{FunctionName}/aliases', operation: 'CreateAlias' },
  { method: 'GET', uri: '/2015-03-31/functions/{FunctionName}/aliases', operation: 'ListAliases' },
  { method: 'GET', uri: '/2015-03-31/functions/{FunctionName}/aliases/{Name}', operation: 'GetAlias' },
  { method: 'PUT', uri: '/2015-03-31/functions/{FunctionName}/aliases/{Name}', operation: 'UpdateAlias' },
  { method: 'DELETE', uri: '/2015-03-31/functions/{FunctionName}/aliases/{Name}', operation: 'DeleteAlias' },
  { method: 'POST', uri: '/2015-03-31/functions/{FunctionName}/policy', operation: 'AddPermission' },
  { method: 'GET', uri: '/2015-03-31/functions/{FunctionName}/policy', operation: 'GetPolicy' },
  { method: 'DELETE', uri: '/2015-03-31/functions/{FunctionName}/policy/{StatementId}', operation: 'RemovePermission' },
  { method: 'POST', uri: '/2015-03-31/functions/{FunctionName}/invocations', operation: 'Invoke' },
  { method: 'POST', uri: '/2017-03-31/tags/{ARN}', operation: 'TagResource' },
  { method: 'DELETE', uri: '/2017-03-31/tags/{ARN}', operation: 'UntagResource' },
  { method: 'GET', uri: '/2017-03-31/tags/{ARN}', operation: 'ListTags' },
];

// ---- the model's constraints (anchored: Lambda matches whole values) ----

const FUNCTION_NAME_RE = String.raw`(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`;
const NAMESPACED_FUNCTION_NAME_RE = String.raw`(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`;
const ROLE_RE = String.raw`arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`;
const HANDLER_RE = String.raw`[^\s]+`;
const QUALIFIER_RE = String.raw`(|[a-zA-Z0-9$_-]+)`;
const ALIAS_RE = String.raw`(?!^[0-9]+$)([a-zA-Z0-9-_]+)`;
const VERSION_RE = String.raw`(\$LATEST|[0-9]+)`;
const STATEMENT_ID_RE = String.raw`([a-zA-Z0-9-_]+)`;
const NAMESPACED_STATEMENT_ID_RE = String.raw`([a-zA-Z0-9-_.]+)`;
const ACTION_RE = String.raw`(lambda:[*]|lambda:[a-zA-Z]+|[*])`;
const PRINCIPAL_RE = String.raw`[^\s]+`;
const SOURCE_ARN_RE = String.raw`arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:(\d{12})?:(.*)`;
const ENV_NAME_RE = String.raw`[a-zA-Z]([a-zA-Z0-9_])+`;
const FUNCTION_ARN_RE = String.raw`arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?`;
/** the Runtime enum of the newest model the CLIs carry */
const RUNTIME_ENUM = [
  'nodejs', 'nodejs4.3', 'nodejs6.10', 'nodejs8.10', 'nodejs10.x', 'nodejs12.x', 'nodejs14.x', 'nodejs16.x', 'java8', 'java8.al2', 'java11', 'python2.7', 'python3.6', 'python3.7',
  'python3.8', 'python3.9', 'dotnetcore1.0', 'dotnetcore2.0', 'dotnetcore2.1', 'dotnetcore3.1', 'dotnet6', 'dotnet8', 'nodejs4.3-edge', 'go1.x', 'ruby2.5', 'ruby2.7', 'provided',
  'provided.al2', 'nodejs18.x', 'python3.10', 'java17', 'ruby3.2', 'ruby3.3', 'ruby3.4', 'python3.11', 'nodejs20.x', 'provided.al2023', 'python3.12', 'java21', 'python3.13',
  'nodejs22.x', 'nodejs24.x', 'python3.14', 'java25', 'dotnet10', 'ruby4.0',
];

/** Request payloads larger than these are refused before parsing (Lambda's documented quotas). */
const MAX_ZIP_REQUEST = 70_167_211;
const MAX_SYNC_PAYLOAD = 6_291_456;
const MAX_ASYNC_PAYLOAD = 262_144;

/**
 * Collects constraint violations of one request, then throws them together as Lambda's
 * ValidationException does (`N validation errors detected: …; …`).
 */
class Checks {
  private readonly errors: string[] = [];

  private add(field: string, value: unknown, constraint: string): void {
    const shown = Array.isArray(value) ? `[${value.join(', ')}]` : String(value);
    this.errors.push(`Value '${shown}' at '${field}' failed to satisfy constraint: Member must ${constraint}`);
  }

  pattern(field: string, value: string | undefined, re: string): this {
    if (value !== undefined && !new RegExp(`^(?:${re})$`).test(value)) this.add(field, value, `satisfy regular expression pattern: ${re}`);
    return this;
  }

  length(field: string, value: string | undefined, min: number | undefined, max: number | undefined): this {
    if (value === undefined) return this;
    if (min !== undefined && value.length < min) this.add(field, value, `have length greater than or equal to ${min}`);
    else if (max !== undefined && value.length > max) this.add(field, value, `have length less than or equal to ${max}`);
    return this;
  }

  range(field: string, value: number | undefined, min: number | undefined, max: number | undefined): this {
    if (value === undefined) return this;
    if (min !== undefined && value < min) this.add(field, value, `have value greater than or equal to ${min}`);
    else if (max !== undefined && value > max) this.add(field, value, `have value less than or equal to ${max}`);
    return this;
  }

  oneOf(field: string, value: string | undefined, values: readonly string[]): this {
    if (value !== undefined && !values.includes(value)) this.add(field, value, `satisfy enum value set: [${values.join(', ')}]`);
    return this;
  }

  raw(field: string, value: unknown, constraint: string): this {
    this.add(field, value, constraint);
    return this;
  }

  done(): void {
    if (this.errors.length) throw lambdaErrors.validation(this.errors);
  }
}

// ---- typed reads of the JSON body ----

type Json = Record<string, unknown>;

function str(o: Json, k: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw lambdaErrors.invalid(`${k} must be a string`);
  return v;
}

function int(o: Json, k: string): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw lambdaErrors.invalid(`${k} must be an integer`);
  return v;
}

function bool(o: Json, k: string): boolean | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw lambdaErrors.invalid(`${k} must be a boolean`);
  return v;
}

function obj(o: Json, k: string): Json | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw lambdaErrors.invalid(`${k} must be a structure`);
  return v as Json;
}

function strMap(o: Json, k: string): Record<string, string> | undefined {
  const m = obj(o, k);
  if (!m) return undefined;
  for (const [key, v] of Object.entries(m)) if (typeof v !== 'string') throw lambdaErrors.invalid(`${k}.${key} must be a string`);
  return m as Record<string, string>;
}

function strList(o: Json, k: string): string[] | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw lambdaErrors.invalid(`${k} must be a list of strings`);
  return v as string[];
}

function required(name: string, v: string | undefined): string {
  // botocore checks required members before sending; a hand-made request still gets an answer
  if (v === undefined) throw lambdaErrors.validation([`Value null at '${name}' failed to satisfy constraint: Member must not be null`]);
  return v;
}

// ---- shared checks ----

function checkRuntime(runtime: string): SupportedRuntime {
  new Checks().oneOf('runtime', runtime, RUNTIME_ENUM).done();
  if ((SUPPORTED_RUNTIMES as readonly string[]).includes(runtime)) return runtime as SupportedRuntime;
  if (DEPRECATED_RUNTIMES.has(runtime)) {
    throw lambdaErrors.invalid(`The runtime parameter of ${runtime} is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions.`);
  }
  throw lambdaErrors.invalid(`The runtime parameter of ${runtime} is not supported by this harness, which runs ${SUPPORTED_RUNTIMES.join(', ')}. Use one of them while creating or updating functions.`);
}

function checkEnvironment(env: Record<string, string> | undefined, c: Checks): void {
  if (!env) return;
  for (const k of Object.keys(env)) c.pattern('environment.variables', k, ENV_NAME_RE);
  const reserved = Object.keys(env).filter((k) => RESERVED_ENV_KEYS.has(k));
  if (reserved.length) {
    throw lambdaErrors.invalid(
      `Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: ${reserved.join(', ')}`,
    );
  }
  const size = Buffer.byteLength(JSON.stringify(env));
  if (size > 4096) throw lambdaErrors.invalid(`Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ${JSON.stringify(env)}`);
}

/** The settings members CreateFunction and UpdateFunctionConfiguration share. */
function readSettings(b: Json, c: Checks): Partial<FunctionSettings> & { runtimeRaw?: string } {
  const role = str(b, 'Role');
  const handler = str(b, 'Handler');
  const description = str(b, 'Description');
  const timeout = int(b, 'Timeout');
  const memorySize = int(b, 'MemorySize');
  const env = obj(b, 'Environment');
  const environment = env ? (strMap(env, 'Variables') ?? {}) : undefined;
  const tracing = obj(b, 'TracingConfig');
  const tracingMode = tracing ? str(tracing, 'Mode') : undefined;
  const eph = obj(b, 'EphemeralStorage');
  const ephemeralStorage = eph ? int(eph, 'Size') : undefined;
  const logging = obj(b, 'LoggingConfig');
  const logGroup = logging ? str(logging, 'LogGroup') : undefined;
  const runtimeRaw = str(b, 'Runtime');
  c.pattern('role', role, ROLE_RE)
    .length('handler', handler, 0, 128)
    .pattern('handler', handler, HANDLER_RE)
    .length('description', description, 0, 256)
    .range('timeout', timeout, 1, 900)
    .range('memorySize', memorySize, 128, 10240)
    .oneOf('tracingConfig.mode', tracingMode, ['Active', 'PassThrough'])
    .range('ephemeralStorage.size', ephemeralStorage, 512, 10240)
    .length('loggingConfig.logGroup', logGroup, 1, 512);
  checkEnvironment(environment, c);
  const layers = strList(b, 'Layers');
  if (layers?.length) throw lambdaErrors.invalid('Layers are not emulated by this harness: package the layer code in the function .zip.');
  return {
    ...(role !== undefined ? { role } : {}),
    ...(handler !== undefined ? { handler } : {}),
    ...(description !== undefined ? { description } : {}),
    ...(timeout !== undefined ? { timeout } : {}),
    ...(memorySize !== undefined ? { memorySize } : {}),
    ...(environment !== undefined ? { environment } : {}),
    ...(tracingMode !== undefined ? { tracingMode: tracingMode as 'Active' | 'PassThrough' } : {}),
    ...(ephemeralStorage !== undefined ? { ephemeralStorage } : {}),
    ...(logGroup !== undefined ? { logGroup } : {}),
    ...(runtimeRaw !== undefined ? { runtimeRaw } : {}),
  };
}

function readArchitecture(b: Json, c: Checks): 'x86_64' | 'arm64' | undefined {
  const arch = strList(b, 'Architectures');
  if (arch === undefined) return undefined;
  if (arch.length !== 1) c.raw('architectures', arch, 'have length less than or equal to 1');
  else if (!['x86_64', 'arm64'].includes(arch[0]!)) c.raw('architectures', arch, 'satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]');
  return arch[0] as 'x86_64' | 'arm64';
}

/** Code.ZipFile (base64 in the JSON body); S3 and image sources are not served here. */
function readZip(code: Json | undefined): Buffer {
  if (!code) throw lambdaErrors.invalid('Please provide a source for function code.');
  if (str(code, 'ImageUri') !== undefined) throw lambdaErrors.invalid('Source image is not supported by this harness: it runs .zip deployment packages (PackageType Zip) only.');
  const zip = str(code, 'ZipFile');
  if (zip !== undefined) return Buffer.from(zip, 'base64');
  const bucket = str(code, 'S3Bucket');
  if (bucket !== undefined) {
    throw lambdaErrors.invalid(`Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not exist (the harness has no S3: upload the package with --zip-file)`);
  }
  throw lambdaErrors.invalid('Please provide a source for function code.');
}

function qualifierOf(req: RestRequest, c: Checks): string | undefined {
  const q = req.query.get('Qualifier') ?? undefined;
  c.length('qualifier', q, 1, 128).pattern('qualifier', q, QUALIFIER_RE);
  return q;
}

function functionNameOf(req: RestRequest, c: Checks, namespaced = false): string {
  const n = req.params.FunctionName!;
  if (namespaced) c.length('functionName', n, 1, 256).pattern('functionName', n, NAMESPACED_FUNCTION_NAME_RE);
  else c.length('functionName', n, 1, 140).pattern('functionName', n, FUNCTION_NAME_RE);
  return n;
}

function page<T>(items: T[], req: RestRequest, dflt: number): { items: T[]; next?: string } {
  const c = new Checks();
  const maxRaw = req.query.get('MaxItems');
  const max = maxRaw === null ? dflt : Number(maxRaw);
  if (maxRaw !== null && !Number.isInteger(max)) throw lambdaErrors.invalid('MaxItems must be an integer');
  c.range('maxItems', maxRaw === null ? undefined : max, 1, 10000).done();
  const marker = req.query.get('Marker');
  let start = 0;
  if (marker) {
    const m = /^m(\d+)$/.exec(Buffer.from(marker, 'base64').toString('utf8'));
    if (!m) throw lambdaErrors.invalid(`Invalid marker: ${marker}`);
    start = Number(m[1]);
  }
  const slice = items.slice(start, start + max);
  return { items: slice, ...(start + max < items.length ? { next: Buffer.from(`m${start + max}`).toString('base64') } : {}) };
}

// ---- rendering ----

/** A version's configuration as the API renders it (FunctionConfiguration), under the ARN it was addressed by. */
export function configurationOf(fn: LambdaFunction, v: FunctionVersion, functionArn: string) {
  const c = v.config;
  return {
    FunctionName: fn.name,
    FunctionArn: functionArn,
    Runtime: c.runtime,
    Role: c.role,
    Handler: c.handler,
    CodeSize: c.code.size,
    Description: c.description,
    Timeout: c.timeout,
    MemorySize: c.memorySize,
    LastModified: lastModifiedText(v.lastModified),
    CodeSha256: c.code.sha256,
    Version: v.version,
    ...(c.environment ? { Environment: { Variables: c.environment } } : {}),
    TracingConfig: { Mode: c.tracingMode },
    RevisionId: v.revisionId,
    State: v.state,
    ...(v.stateReason ? { StateReason: v.stateReason } : {}),
    ...(v.stateReasonCode ? { StateReasonCode: v.stateReasonCode } : {}),
    ...(v.lastUpdateStatus ? { LastUpdateStatus: v.lastUpdateStatus } : {}),
    ...(v.lastUpdateStatusReason ? { LastUpdateStatusReason: v.lastUpdateStatusReason } : {}),
    ...(v.lastUpdateStatusReasonCode ? { LastUpdateStatusReasonCode: v.lastUpdateStatusReasonCode } : {}),
    PackageType: 'Zip',
    Architectures: [c.architecture],
    EphemeralStorage: { Size: c.ephemeralStorage },
    SnapStart: { ApplyOn: 'None', OptimizationStatus: 'Off' },
    LoggingConfig: { LogFormat: 'Text', LogGroup: c.logGroup },
  };
}

function aliasOf(a: FunctionAlias) {
  return {
    AliasArn: a.arn,
    Name: a.name,
    FunctionVersion: a.functionVersion,
    Description: a.description,
    ...(a.weights ? { RoutingConfig: { AdditionalVersionWeights: a.weights } } : {}),
    RevisionId: a.revisionId,
  };
}

function readWeights(b: Json): Record<string, number> | undefined {
  const rc = obj(b, 'RoutingConfig');
  if (!rc) return undefined;
  const w = obj(rc, 'AdditionalVersionWeights') ?? {};
  for (const [k, v] of Object.entries(w)) if (typeof v !== 'number') throw lambdaErrors.invalid(`AdditionalVersionWeights.${k} must be a number`);
  return w as Record<string, number>;
}

function header(req: RestRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export interface LambdaProviderDeps {
  /** runs function code (the composition adapts runtime/lambda to it) */
  runner: FunctionRunner;
  events?: EventSink;
}

/**
 * AWS Lambda's control plane on the edge (restJson1): functions, versions, aliases, resource
 * policies, tags and Invoke, answering with the model's status codes and Lambda's error body
 * (`{"Type":"User","message":…}`).
 */
export function createLambdaProvider(store: LambdaStore, deps: LambdaProviderDeps): RestJsonProvider {
  const ops: Record<string, (req: RestRequest, ctx: RequestContext) => RestResponse | Promise<RestResponse>> = {
    CreateFunction(req) {
      if (req.body.length > MAX_ZIP_REQUEST) throw lambdaErrors.requestTooLarge(MAX_ZIP_REQUEST, 'CreateFunction');
      const b = req.json();
      const c = new Checks();
      const ref = required('functionName', str(b, 'FunctionName'));
      c.length('functionName', ref, 1, 140).pattern('functionName', ref, FUNCTION_NAME_RE);
      const s = readSettings(b, c);
      required('role', s.role);
      const packageType = str(b, 'PackageType');
      c.oneOf('packageType', packageType, ['Zip', 'Image']);
      const architecture = readArchitecture(b, c);
      const publish = bool(b, 'Publish');
      const tags = strMap(b, 'Tags');
      c.done();
      const parsed = parseFunctionRef(ref)!;
      if (parsed.qualifier !== undefined) throw lambdaErrors.invalid('Qualifiers are not allowed in the function name of CreateFunction.');
      new Checks().length('functionName', parsed.name, 1, 64).done();
      if (packageType === 'Image') throw lambdaErrors.invalid('Source image is not supported by this harness: it runs .zip deployment packages (PackageType Zip) only.');
      if (s.runtimeRaw === undefined || s.handler === undefined) throw lambdaErrors.invalid('Runtime and Handler are mandatory parameters for functions created with deployment packages.');
      const runtime = checkRuntime(s.runtimeRaw);
      const zip = readZip(obj(b, 'Code'));
      const { runtimeRaw: _r, ...settings } = s;
      const { fn, version } = store.createFunction(
        parsed.name,
        { ...settings, runtime, handler: s.handler, role: s.role!, ...(architecture ? { architecture } : {}) },
        zip,
        { ...(publish ? { publish } : {}), ...(tags ? { tags } : {}) },
      );
      return { status: 201, body: configurationOf(fn, version, version.version === '$LATEST' ? fn.arn : `${fn.arn}:${version.version}`) };
    },

    ListFunctions(req) {
      const all = req.query.get('FunctionVersion');
      new Checks().oneOf('functionVersion', all ?? undefined, ['ALL']).done();
      const rows = store.listFunctions().flatMap((fn) =>
        all === 'ALL' ? store.listVersions(fn.name).map((v) => configurationOf(fn, v, `${fn.arn}:${v.version}`)) : [configurationOf(fn, fn.latest, fn.arn)],
      );
      const p = page(rows, req, 50);
      return { body: { Functions: p.items, ...(p.next ? { NextMarker: p.next } : {}) } };
    },

    GetFunction(req) {
      const c = new Checks();
      const ref = functionNameOf(req, c, true);
      const q = qualifierOf(req, c);
      c.done();
      const t = store.resolve(ref, q);
      return {
        body: {
          Configuration: configurationOf(t.fn, t.version, t.arn),
          Code: { RepositoryType: 'S3', Location: `file://${t.version.config.code.zipPath}` },
          ...(Object.keys(t.fn.tags).length ? { Tags: t.fn.tags } : {}),
        },
      };
    },

    GetFunctionConfiguration(req) {
      const c = new Checks();
      const ref = functionNameOf(req, c, true);
      const q = qualifierOf(req, c);
      c.done();
      const t = store.resolve(ref, q);
      return { body: configurationOf(t.fn, t.version, t.arn) };
    },

    DeleteFunction(req) {
      const c = new Checks();
      const ref = functionNameOf(req, c);
      const q = qualifierOf(req, c);
      c.done();
      store.deleteFunction(ref, q);
      return { status: 204 };
    },

    UpdateFunctionCode(req) {
      if (req.body.length > MAX_ZIP_REQUEST) throw lambdaErrors.requestTooLarge(MAX_ZIP_REQUEST, 'UpdateFunctionCode');
      const c = new Checks();
      const ref = functionNameOf(req, c);
      const b = req.json();
      const architecture = readArchitecture(b, c);
      const publish = bool(b, 'Publish');
      const dryRun = bool(b, 'DryRun');
      const revisionId = str(b, 'RevisionId');
      c.done();
      const zip = readZip(b);
      const fn = store.getFunction(ref);
      const v = store.updateFunctionCode(ref, zip, {
        ...(publish ? { publish } : {}),
        ...(dryRun ? { dryRun } : {}),
        ...(revisionId !== undefined ? { revisionId } : {}),
        ...(architecture ? { architecture } : {}),
      });
      return { body: configurationOf(fn, v, v.version === '$LATEST' ? fn.arn : `${fn.arn}:${v.version}`) };
    },

    UpdateFunctionConfiguration(req) {
      const c = new Checks();
      const ref = functionNameOf(req, c);
      const b = req.json();
      const s = readSettings(b, c);
      const revisionId = str(b, 'RevisionId');
      c.done();
      const { runtimeRaw, ...patch } = s;
      const runtime = runtimeRaw !== undefined ? checkRuntime(runtimeRaw) : undefined;
      const fn = store.getFunction(ref);
      const v = store.updateFunctionConfiguration(ref, { ...patch, ...(runtime ? { runtime } : {}) }, revisionId !== undefined ? { revisionId } : {});
      return { body: configurationOf(fn, v, fn.arn) };
    },

    PublishVersion(req) {
      const c = new Checks();
      const ref = functionNameOf(req, c);
      const b = req.json();
      const codeSha256 = str(b, 'CodeSha256');
      const description = str(b, 'Description');
      const revisionId = str(b, 'RevisionId');
      c.length('description', description, 0, 256).done();
      const fn = store.getFunction(ref);
      const v = store.publishVersion(ref, {
        ...(codeSha256 !== undefined ? { codeSha256 } : {}),
        ...(description !== undefined ? { description } : {}),
        ...(revisionId !== undefined ? { revisionId } : {}),
      });
      return { status: 201, body: configurationOf(fn, v, `${fn.arn}:${v.version}`) };
    },

    ListVersionsByFunction(req) {
      const c = new Checks();
      const ref = functionNameOf(req, c, true);
      c.done();
      const fn = store.getFunction(ref);
      const p = page(
        store.listVersions(ref).map((v) => configurationOf(fn, v, `${fn.arn}:${v.version}`)),
        req,
        50,
      );
      return { body: { Versions: p.items, ...(p.next ? { NextMarker: p.next } : {}) } };
    },

    CreateAlias(req) {
      const c = new Checks();
      const ref = functionNameOf(req, c);
      const b = req.json();
      const name = required('name', str(b, 'Name'));
      const functionVersion = required('functionVersion', str(b, 'FunctionVersion'));
      const description = str(b, 'Description');
      c.length('name', name, 1, 128).pattern('name', name, ALIAS_RE).length('functionVersion', functionVersion, 1, 1024).pattern('functionVersion', functionVersion, VERSION_RE).length('description', description, 0, 256);
      const weights = readWeights(b);
      c.done();
      const a = store.createAlias(ref, { name, functionVersion, ...(description !== undefined ? { description } : {}), ...(weights ? { weights } : {}) });
      return { status: 201, body: aliasOf(a) };
    },

    GetAlias(req) {
      const c = new Checks();
      const ref = functionNameOf(req, c);
      const name = req.params.Name!;
      c.pattern('name', name, ALIAS_RE).done();
      return { body: aliasOf(store.getAlias(ref, name)) };
    },

    UpdateAlias(req) {
      const c = new Checks();
      const ref = functionNameOf(req, c);
      const name = req.params.Name!;
      const b = req.json();
      const functionVersion = str(b, 'FunctionVersion');
      const description = str(b, 'Description');
      const revisionId = str(b, 'RevisionId');
      c.pattern('name', name, ALIAS_RE).pattern('functionVersion', functionVersion, VERSION_RE).length('description', description, 0, 256);
      const weights = readWeights(b);
      c.done();
      const a = store.updateAlias(ref, name, {
        ...(functionVersion !== undefined ? { functionVersion } : {}),
        ...(description !== undefined ? { description } : {}),
        ...(weights !== undefined ? { weights } : {}),
        ...(revisionId !== undefined ? { revisionId } : {}),
      });
      return { body: aliasOf(a) };
    },

    ListAliases(req) {
      const c = new Checks();
      const ref = functionNameOf(req, c);
      const fv = req.query.get('FunctionVersion') ?? undefined;
      c.pattern('functionVersion', fv, VERSION_RE).done();
      const p = page(store.listAliases(ref, fv).map(aliasOf), req, 50);
      return { body: { Aliases: p.items, ...(p.next ? { NextMarker: p.next } : {}) } };
    },

    DeleteAlias(req) {
      const c = new Checks();
      const ref = functionNameOf(req, c);
      const name = req.params.Name!;
      c.pattern('name', name, ALIAS_RE).done();
      store.deleteAlias(ref, name);
      return { status: 204 };
    },

    AddPermission(req) {
      const c = new Checks();
      const ref = functionNameOf(req, c);
      const q = qualifierOf(req, c);
      const b = req.json();
      const sid = required('statementId', str(b, 'StatementId'));
      const action = required('action', str(b, 'Action'));
      const principal = required('principal', str(b, 'Principal'));
      const sourceArn = str(b, 'SourceArn');
      const sourceAccount = str(b, 'SourceAccount');
      const eventSourceToken = str(b, 'EventSourceToken');
      const principalOrgId = str(b, 'PrincipalOrgID');
      const urlAuth = str(b, 'FunctionUrlAuthType');
      const revisionId = str(b, 'RevisionId');
      c.length('statementId', sid, 1, 100)
        .pattern('statementId', sid, STATEMENT_ID_RE)
        .pattern('action', action, ACTION_RE)
        .pattern('principal', principal, PRINCIPAL_RE)
        .pattern('sourceArn', sourceArn, SOURCE_ARN_RE)
        .length('sourceAccount', sourceAccount, undefined, 12)
        .pattern('sourceAccount', sourceAccount, String.raw`\d{12}`)
        .oneOf('functionUrlAuthType', urlAuth, ['NONE', 'AWS_IAM'])
        .done();
      const st = store.addPermission(
        ref,
        q,
        {
          StatementId: sid,
          Action: action,
          Principal: principal,
          ...(sourceArn !== undefined ? { SourceArn: sourceArn } : {}),
          ...(sourceAccount !== undefined ? { SourceAccount: sourceAccount } : {}),
          ...(eventSourceToken !== undefined ? { EventSourceToken: eventSourceToken } : {}),
          ...(principalOrgId !== undefined ? { PrincipalOrgID: principalOrgId } : {}),
          ...(urlAuth !== undefined ? { FunctionUrlAuthType: urlAuth } : {}),
        },
        revisionId !== undefined ? { revisionId } : {},
      );
      return { status: 201, body: { Statement: JSON.stringify(st) } };
    },

    GetPolicy(req) {
      const c = new Checks();
      const ref = functionNameOf(req, c, true);
      const q = qualifierOf(req, c);
      c.done();
      const p = store.getPolicy(ref, q);
      return { body: { Policy: p.policy, RevisionId: p.revisionId } };
    },

    RemovePermission(req) {
      const c = new Checks();
      const ref = functionNameOf(req, c);
      const q = qualifierOf(req, c);
      const sid = req.params.StatementId!;
      const revisionId = req.query.get('RevisionId') ?? undefined;
      c.length('statementId', sid, 1, 100).pattern('statementId', sid, NAMESPACED_STATEMENT_ID_RE).done();
      store.removePermission(ref, q, sid, revisionId !== undefined ? { revisionId } : {});
      return { status: 204 };
    },

    async Invoke(req, ctx) {
      const c = new Checks();
      const ref = functionNameOf(req, c, true);
      const q = qualifierOf(req, c);
      const type = (header(req, 'x-amz-invocation-type') ?? 'RequestResponse') as InvocationType;
      const logType = header(req, 'x-amz-log-type');
      c.oneOf('invocationType', type, ['Event', 'RequestResponse', 'DryRun']).oneOf('logType', logType, ['None', 'Tail']).done();
      const max = type === 'Event' ? MAX_ASYNC_PAYLOAD : MAX_SYNC_PAYLOAD;
      if (req.body.length > max) throw lambdaErrors.requestTooLarge(max, 'Invoke');
      let payload = req.body;
      if (payload.toString('utf8').trim() === '') payload = Buffer.from('{}');
      else {
        try {
          JSON.parse(payload.toString('utf8'));
        } catch (err) {
          throw lambdaErrors.invalidContent(`Could not parse request body into json: Could not parse payload into json: ${(err as Error).message}`);
        }
      }
      const t = store.resolve(ref, q);
      const clientContext = header(req, 'x-amz-client-context');
      const r = await invokeTarget(store, deps.runner, deps.events, t, payload, {
        type,
        requestId: ctx.requestId,
        ...(logType === 'Tail' && type === 'RequestResponse' ? { tail: true } : {}),
        ...(clientContext ? { clientContext } : {}),
      });
      const headers: Record<string, string> = { 'x-amz-executed-version': r.executedVersion };
      if (r.functionError) headers['x-amz-function-error'] = r.functionError;
      if (r.logResult !== undefined) headers['x-amz-log-result'] = r.logResult;
      return { status: r.statusCode, headers, ...(r.statusCode === 200 ? { body: r.payload } : {}) };
    },

    TagResource(req) {
      const arn = req.params.ARN!;
      new Checks().pattern('resource', arn, FUNCTION_ARN_RE).done();
      const tags = strMap(req.json(), 'Tags');
      if (!tags) required('tags', undefined);
      store.tagResource(arn, tags!);
      return { status: 204 };
    },

    UntagResource(req) {
      const arn = req.params.ARN!;
      new Checks().pattern('resource', arn, FUNCTION_ARN_RE).done();
      store.untagResource(arn, req.query.getAll('tagKeys'));
      return { status: 204 };
    },

    ListTags(req) {
      const arn = req.params.ARN!;
      new Checks().pattern('resource', arn, FUNCTION_ARN_RE).done();
      return { body: { Tags: store.listTags(arn) } };
    },
  };

  return {
    serviceName: 'lambda',
    protocol: 'rest-json',
    validationErrorCode: 'ValidationException',
    routes: LAMBDA_ROUTES,
    operations: ops,
    errorBody: (err: AwsError) => ({ Type: err.senderFault ? 'User' : 'Service', message: err.message }),
  };
}

