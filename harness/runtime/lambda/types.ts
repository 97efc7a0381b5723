/**
 * The seam between Lambda's control plane (aws/lambda: functions, versions, aliases, policy)
 * and the environments that run function code (runtime/lambda). The provider never starts a
 * process; the runtime never parses a Lambda API request. scenario/serverless/lambda.ts wires
 * the two.
 */

/** One published version (or $LATEST) of a function, as the runtime needs it to run code. */
export interface FunctionSpec {
  functionName: string;
  /** the unqualified function ARN */
  functionArn: string;
  /** '$LATEST' or '1', '2', … */
  version: string;
  runtime: 'nodejs20.x' | 'nodejs22.x' | 'python3.12';
  /** `file.export` (Node: index.handler → index.mjs/index.js/index.cjs; Python: module.function) */
  handler: string;
  architecture: 'arm64' | 'x86_64';
  memorySize: number;
  /** seconds */
  timeout: number;
  /** the function's Environment.Variables */
  environment: Record<string, string>;
  /** the unzipped deployment package (read-only for the runtime; it is /var/task) */
  codeDir: string;
  /** base64 SHA-256 of the zip: environments of other code are never reused for this one */
  codeSha256: string;
  /** `/aws/lambda/<name>` unless the function's LoggingConfig says otherwise */
  logGroup: string;
  /** the execution role's ARN */
  role: string;
}

export interface InvokeOptions {
  requestId: string;
  /** return the last 4 KB of the invocation's log (`--log-type Tail`) */
  tail?: boolean;
  /** base64 ClientContext, passed to the handler's context */
  clientContext?: string;
  /**
   * the ARN the caller invoked (qualified with the alias or version it named): the handler's
   * context.invokedFunctionArn. Default: the function ARN, qualified by the version unless $LATEST.
   */
  invokedFunctionArn?: string;
}

export interface InvokeOutcome {
  payload: Buffer;
  /** 'Unhandled' when the handler threw, the runtime failed or the invocation timed out */
  functionError?: 'Unhandled';
  logTail?: string;
  /** set on a cold start: the environment's init time (REPORT … Init Duration) */
  initDurationMs?: number;
  durationMs: number;
}

export interface LambdaRuntime {
  readonly name: string;
  /** runs one invocation in a free warm environment of this spec, or a new one (cold start) */
  invoke(spec: FunctionSpec, payload: Buffer, opts: InvokeOptions): Promise<InvokeOutcome>;
  /** ends the environments of a function (all its versions when version is omitted): new code, deletion */
  retire(functionArn: string, version?: string): Promise<void>;
  /** live environments per function ARN + version (for status and benches) */
  environments(): { functionArn: string; version: string; busy: boolean; pid?: number }[];
  close(): Promise<void>;
}

export interface LambdaRuntimeDeps {
  runId: string;
  runDir: string;
  region: string;
  account: string;
  /** the AWS edge's URL: AWS_ENDPOINT_URL inside every environment, so the SDK reaches the harness */
  awsEndpoint: string;
  /** writes one log event (CloudWatch Logs; the group and stream are created if missing) */
  appendLog(group: string, stream: string, message: string, timestampMs: number): void;
  /** real milliseconds for AWS seconds (the run's clock) */
  scaledMs(awsSeconds: number): number;
  events?: { append(type: string, fields?: Record<string, unknown>): unknown };
  log?: (line: string) => void;
  /**
   * docker mode: Node functions run as containers of their architecture (container.ts), with
   * Lambda's init limit and each function's timeout stretched by this calibrated slowdown (≥ 1,
   * runtime/docker/calibrate.ts) and by QEMU's when the architecture is emulated
   */
  containers?: { slowdown: number };
}
