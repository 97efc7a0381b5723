import type { Clock } from '../clock.ts';
import type { CognitoStore } from './cognito/store.ts';
import type { LogsStore } from './logs/store.ts';
import type { IamStore } from './iam/store.ts';
import type { EventSink, ServiceProvider } from './protocol/types.ts';
import type { RestJsonProvider } from './protocol/rest.ts';
import type { LoadedManifest } from '../manifest/load.ts';

/**
 * The seam between the serverless half of the topology — Lambda (aws/lambda), API Gateway v2
 * HTTP APIs (aws/apigatewayv2) and DynamoDB (aws/dynamodb) — and the harness that starts them
 * (scenario/harness.ts). Each part has a `start*(ctx)` that returns the providers the AWS edge
 * serves and a stop; API Gateway reaches functions only through `FunctionInvoker`.
 */
export interface ServerlessContext {
  runId: string;
  /** the run's directory: code, environments and state live under it */
  runDir: string;
  account: string;
  region: string;
  /** the AWS edge's URL (what AWS_ENDPOINT_URL points at for code the harness runs) */
  awsEndpoint: string;
  clock: Clock;
  events: EventSink;
  logs: LogsStore;
  cognito: CognitoStore;
  iam: IamStore;
  manifest: LoadedManifest;
  /** 'process' or 'docker': how ECS tasks run in this run (functions follow it) */
  runtime: 'process' | 'docker';
  /** docker mode: the calibrated slowdown of this machine (≥ 1; runtime/docker/calibrate.ts) */
  slowdown?: number;
  log: (line: string) => void;
}

export interface StartedPart {
  providers: (ServiceProvider | RestJsonProvider)[];
  /** environment for the scripts and `.harness/env` (e.g. an endpoint) */
  env?: Record<string, string>;
  /** one line for `harness status` / the summary */
  summary?: string;
  stop(): Promise<void>;
}

/** What one invocation returned, as Lambda's Invoke reports it. */
export interface InvokeResult {
  /** 200 RequestResponse, 202 Event, 204 DryRun */
  statusCode: number;
  /** 'Unhandled' (the handler threw or timed out) or 'Handled' */
  functionError?: string;
  payload: Buffer;
  executedVersion: string;
  /** the invocation's last 4 KB of log, when asked (`--log-type Tail`) */
  logTail?: string;
}

export interface FunctionInvoker {
  /**
   * Invokes on behalf of a service principal (API Gateway): `functionRef` is a function name,
   * ARN (optionally qualified) or an API Gateway integration URI
   * (`arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<arn>/invocations`).
   * Returns `permitted: false` when the function's resource policy does not let `principal`
   * (e.g. `apigateway.amazonaws.com`) invoke it from `sourceArn`; throws when there is no such
   * function.
   */
  invokeAs(principal: string, sourceArn: string, functionRef: string, payload: Buffer): Promise<{ permitted: false; reason: string } | { permitted: true; result: InvokeResult }>;
}
