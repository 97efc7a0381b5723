import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { FunctionInvoker, ServerlessContext, StartedPart } from '../../aws/serverless.ts';
import type { LambdaRuntime, LambdaRuntimeDeps } from '../../runtime/lambda/types.ts';
import { LambdaStore, functionArnOfIntegrationUri } from '../../aws/lambda/store.ts';
import { createLambdaProvider } from '../../aws/lambda/provider.ts';
import { invokeTarget, type FunctionRunner } from '../../aws/lambda/invoke.ts';
import { evaluatePolicy } from '../../aws/lambda/policy.ts';
import { lambdaErrors } from '../../aws/lambda/errors.ts';

/** Builds the environments that run function code (runtime/lambda's `createLambdaRuntime`). */
export type LambdaRuntimeFactory = (deps: LambdaRuntimeDeps) => LambdaRuntime | Promise<LambdaRuntime>;

export interface StartLambdaOptions {
  /** the runtime factory; default: `createLambdaRuntime` from runtime/lambda/index.ts when this build has it */
  createRuntime?: LambdaRuntimeFactory;
  /** where that default is imported from (tests point it elsewhere) */
  runtimeModule?: URL;
  /** AWS seconds from CreateFunction to Active (default 5) and of an update's InProgress (default 3) */
  activationSeconds?: number;
  updateSeconds?: number;
}

export type StartedLambda = StartedPart & {
  invoker: FunctionInvoker;
  store: LambdaStore;
  /** undefined when this build has no Lambda runtime (Invoke then answers ServiceException) */
  runtime?: LambdaRuntime;
};

const RUNTIME_MODULE = new URL('../../runtime/lambda/index.ts', import.meta.url);

/**
 * runtime/lambda's factory, or why there is none. The module is imported by URL so the control
 * plane builds and runs before the runtime lands; a module that exists but fails to load is an
 * error, not a silent fallback.
 */
export async function loadLambdaRuntimeFactory(moduleUrl: URL = RUNTIME_MODULE): Promise<{ factory: LambdaRuntimeFactory } | { missing: string }> {
  const file = fileURLToPath(moduleUrl);
  if (!fs.existsSync(file)) return { missing: `no Lambda runtime in this build (${path.relative(process.cwd(), file)} does not exist)` };
  const mod = (await import(moduleUrl.href)) as { createLambdaRuntime?: LambdaRuntimeFactory };
  if (typeof mod.createLambdaRuntime !== 'function') throw new Error(`${file} does not export createLambdaRuntime(deps)`);
  return { factory: (deps) => mod.createLambdaRuntime!(deps) };
}

/**
 * Lambda: the control plane on the edge (aws/lambda: store + provider) and the environments
 * that run function code (runtime/lambda, through the FunctionRunner seam). Invocations on
 * behalf of API Gateway go through `invoker.invokeAs`, which evaluates the function's
 * resource-based policy first.
 */
export async function startLambda(ctx: ServerlessContext, opts: StartLambdaOptions = {}): Promise<StartedLambda> {
  // Lambda's /var/task has no package scope above it: a `.js` handler is CommonJS unless its own
  // package.json says otherwise. The run dir may sit inside a repo whose package.json says
  // "type": "module", so the code root closes the scope (Node and the bootstrap both stop here).
  const codeRoot = path.join(ctx.runDir, 'lambda');
  fs.mkdirSync(codeRoot, { recursive: true });
  fs.writeFileSync(path.join(codeRoot, 'package.json'), JSON.stringify({ description: 'escher-harness: function code lives below; no package scope above it, as on Lambda', type: 'commonjs', private: true }) + '\n');
  const store = new LambdaStore({
    account: ctx.account,
    region: ctx.region,
    codeRoot,
    timers: ctx.clock,
    events: ctx.events,
    roleExists: (arn) => {
      const roles = ctx.iam.listRoles();
      return roles.length === 0 ? undefined : roles.some((r) => r.Arn === arn);
    },
    ...(opts.activationSeconds !== undefined ? { activationSeconds: opts.activationSeconds } : {}),
    ...(opts.updateSeconds !== undefined ? { updateSeconds: opts.updateSeconds } : {}),
  });

  let runtime: LambdaRuntime | undefined;
  let missing: string | undefined;
  const loaded = opts.createRuntime ? { factory: opts.createRuntime } : await loadLambdaRuntimeFactory(opts.runtimeModule);
  if ('factory' in loaded) {
    runtime = await loaded.factory({
      runId: ctx.runId,
      runDir: ctx.runDir,
      region: ctx.region,
      account: ctx.account,
      awsEndpoint: ctx.awsEndpoint,
      appendLog: (group, stream, message, t) => ctx.logs.appendTaskLog(group, stream, message, t),
      scaledMs: (s) => ctx.clock.scaledMs(s),
      events: ctx.events,
      log: ctx.log,
      // docker mode: Node functions run as containers of their architecture
      ...(ctx.runtime === 'docker' ? { containers: { slowdown: ctx.slowdown ?? 1 } } : {}),
    });
  } else {
    missing = loaded.missing;
    ctx.log(`[lambda] ${missing}: the Lambda API is served, Invoke answers ServiceException`);
  }

  const runner: FunctionRunner = runtime ?? {
    async invoke() {
      throw lambdaErrors.service(missing!);
    },
  };
  // an update that took effect, a deleted version or function: its old environments end
  store.on('retire', ({ functionArn, version }: { functionArn: string; version?: string }) => {
    runtime?.retire(functionArn, version).catch((err) => ctx.log(`[lambda] retiring environments of ${functionArn}${version ? `:${version}` : ''} failed: ${(err as Error).message}`));
  });

  const provider = createLambdaProvider(store, { runner, events: ctx.events });

  const invoker: FunctionInvoker = {
    async invokeAs(principal, sourceArn, functionRef, payload) {
      const ref = functionArnOfIntegrationUri(functionRef) ?? functionRef;
      const t = store.resolve(ref);
      const qualified = t.qualifier !== undefined && t.qualifier !== '$LATEST';
      const verdict = evaluatePolicy(store.statements(ref), { principal, sourceArn, resource: qualified ? t.arn : t.fn.arn });
      if (!verdict.allowed) {
        ctx.events.append('lambda.invoke.denied', { functionName: t.fn.name, arn: t.arn, principal, sourceArn, reason: verdict.reason });
        return { permitted: false, reason: verdict.reason };
      }
      const r = await invokeTarget(store, runner, ctx.events, t, payload, { type: 'RequestResponse', requestId: randomUUID(), principal });
      return {
        permitted: true,
        result: { statusCode: r.statusCode, payload: r.payload, executedVersion: r.executedVersion, ...(r.functionError ? { functionError: r.functionError } : {}) },
      };
    },
  };

  return {
    providers: [provider],
    invoker,
    store,
    ...(runtime ? { runtime } : {}),
    summary: runtime ? `Lambda: functions run in the ${runtime.name} runtime` : `Lambda: API only — ${missing}`,
    async stop() {
      store.close();
      store.removeAllListeners('retire');
      await runtime?.close();
    },
  };
}
