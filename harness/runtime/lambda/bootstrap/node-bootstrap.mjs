/**
 * The Node runtimes' bootstrap (nodejs20.x, nodejs22.x): loads the handler from LAMBDA_TASK_ROOT
 * and serves invocations from the Lambda Runtime API one at a time, as Lambda's Node runtime
 * does. Plain JavaScript, node: builtins only (no build step, nothing native).
 *
 * - handler `path/module.fn[.nested]`: module.mjs is imported, module.cjs required, module.js
 *   imported or required as the nearest package.json's "type" says; top-level await is awaited
 * - async handlers (a returned promise) and callback handlers (event, context, callback), with
 *   context.callbackWaitsForEmptyEventLoop (default true: a callback's result is sent when the
 *   event loop has nothing left to do) and the legacy context.done/succeed/fail
 * - errors as {errorType, errorMessage, trace}; init failures posted to /runtime/init/error as
 *   Runtime.ImportModuleError, Runtime.UserCodeSyntaxError, Runtime.HandlerNotFound,
 *   Runtime.MalformedHandlerName; an uncaught exception or unhandled rejection fails the
 *   invocation and ends the process
 * - console.* lines as `<iso>\t<requestId>\t<LEVEL>\t<message>`, a multi-line message kept as
 *   one line ('\r' for each newline; the harness makes it one CloudWatch event again)
 */
import fs from 'node:fs';
import http from 'node:http';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import util from 'node:util';

const BOOTSTRAP = new URL(import.meta.url).pathname;
const [apiHost, apiPort] = (process.env.AWS_LAMBDA_RUNTIME_API ?? '').split(':');
const TASK_ROOT = process.env.LAMBDA_TASK_ROOT ?? process.cwd();
const HANDLER = process.env._HANDLER ?? '';
const BASE = '/2018-06-01/runtime';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

let currentRequestId;

// ---- logging -------------------------------------------------------------------------------

const rawWrite = process.stdout.write.bind(process.stdout);
function emit(level, args) {
  const message = util.format(...args).replace(/\r?\n/g, '\r');
  rawWrite(`${new Date().toISOString()}\t${currentRequestId}\t${level}\t${message}\n`);
}
for (const [name, level] of [
  ['log', 'INFO'],
  ['info', 'INFO'],
  ['warn', 'WARN'],
  ['error', 'ERROR'],
  ['debug', 'DEBUG'],
]) {
  console[name] = (...args) => emit(level, args);
}
console.trace = (...args) => {
  const e = { name: 'Trace', message: util.format(...args) };
  Error.captureStackTrace(e, console.trace);
  emit('TRACE', [e.stack]);
};

// ---- Runtime API client --------------------------------------------------------------------

function request(method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: apiHost, port: Number(apiPort), path: urlPath, method, agent, headers: body ? { 'Content-Type': 'application/json', ...headers } : headers },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function errorOf(err) {
  if (err instanceof Error || (err && typeof err === 'object' && 'message' in err && 'stack' in err)) {
    return { errorType: String(err.name ?? 'Error'), errorMessage: String(err.message), trace: typeof err.stack === 'string' ? err.stack.split('\n') : [] };
  }
  let errorMessage;
  try {
    errorMessage = String(err);
  } catch {
    errorMessage = Object.prototype.toString.call(err);
  }
  return { errorType: typeof err, errorMessage, trace: [] };
}

function safeStringify(v) {
  try {
    return JSON.stringify(v);
  } catch {
    return undefined;
  }
}

/** the ERROR line Lambda's runtime writes for a failed invocation or init */
function logError(title, e) {
  const { errorType, errorMessage, trace } = e;
  emit('ERROR', [`${title} \t${JSON.stringify({ errorType, errorMessage, stack: trace })}`]);
}

async function postError(urlPath, e) {
  await request('POST', urlPath, JSON.stringify(e), { 'Lambda-Runtime-Function-Error-Type': e.errorType });
}

// ---- what require() may find ---------------------------------------------------------------

/**
 * A bare require() from the function's own code never finds a package outside its code dir
 * other than the SDK (NODE_PATH's layer): on Lambda /var/task has no parent with node_modules,
 * here the code dir may sit under a repo whose node_modules would otherwise answer.
 */
function confineRequire() {
  const real = (p) => {
    try {
      return fs.realpathSync(p) + path.sep;
    } catch {
      return undefined;
    }
  };
  const root = real(TASK_ROOT);
  const sdk = process.env.HARNESS_LAMBDA_LAYER_DIR ? real(path.join(process.env.HARNESS_LAMBDA_LAYER_DIR, 'nodejs', 'node_modules', '@aws-sdk')) : undefined;
  if (!root) return;
  const original = Module._resolveFilename;
  Module._resolveFilename = function (request, parent, ...rest) {
    const filename = original.call(this, request, parent, ...rest);
    const from = parent?.filename;
    if (
      typeof from === 'string' &&
      from.startsWith(root) &&
      !/^(?:\.{0,2}\/|[a-z]+:)/i.test(request) &&
      path.isAbsolute(filename) &&
      !filename.startsWith(root) &&
      !(sdk && filename.startsWith(sdk))
    ) {
      if (sdk && request.startsWith('@aws-sdk/')) return original.call(this, request, parent, rest[0], { paths: [path.dirname(sdk)] });
      const e = new Error(`Cannot find module '${request}'\nRequire stack:\n- ${from}`);
      e.code = 'MODULE_NOT_FOUND';
      e.requireStack = [from];
      throw e;
    }
    return filename;
  };
}
confineRequire();

// ---- loading the handler -------------------------------------------------------------------

class InitError extends Error {
  constructor(errorType, message, trace) {
    super(message);
    this.name = errorType;
    this.errorType = errorType;
    Error.captureStackTrace(this, InitError);
    this.trace = trace ?? this.stack.split('\n');
  }
}

function packageType(dir) {
  for (let d = dir; ; d = path.dirname(d)) {
    const p = path.join(d, 'package.json');
    if (fs.existsSync(p)) {
      try {
        return JSON.parse(fs.readFileSync(p, 'utf8')).type === 'module' ? 'module' : 'commonjs';
      } catch {
        return 'commonjs';
      }
    }
    if (path.dirname(d) === d) return 'commonjs';
  }
}

const isNotFound = (e) => e?.code === 'MODULE_NOT_FOUND' || e?.code === 'ERR_MODULE_NOT_FOUND';

async function loadModule(root, moduleName) {
  const base = path.resolve(root, moduleName);
  const req = createRequire(BOOTSTRAP);
  const found = ['.js', '.mjs', '.cjs'].map((ext) => base + ext).find((f) => fs.existsSync(f));
  try {
    if (!found) {
      // a module that is not a file of the task root (a package in its node_modules)
      try {
        return req(moduleName);
      } catch (e) {
        if (isNotFound(e) && String(e.message).includes(`'${moduleName}'`)) {
          throw new InitError('Runtime.ImportModuleError', `Error: Cannot find module '${moduleName}'\nRequire stack:\n- ${BOOTSTRAP}`);
        }
        throw e;
      }
    }
    if (found.endsWith('.mjs') || (found.endsWith('.js') && packageType(path.dirname(found)) === 'module')) {
      return await import(pathToFileURL(found).href);
    }
    return req(found);
  } catch (e) {
    if (e instanceof InitError) throw e;
    if (e instanceof SyntaxError) throw new InitError('Runtime.UserCodeSyntaxError', `SyntaxError: ${e.message}`, e.stack?.split('\n'));
    // require() of a missing module; import() of one is a plain Error, as on Lambda
    if (e?.code === 'MODULE_NOT_FOUND') throw new InitError('Runtime.ImportModuleError', `Error: ${e.message}`, e.stack?.split('\n'));
    throw e;
  }
}

async function loadHandler(handlerString) {
  const slash = handlerString.lastIndexOf('/');
  const dir = handlerString.slice(0, slash + 1);
  const rest = handlerString.slice(slash + 1);
  const dot = rest.indexOf('.');
  if (dot <= 0 || dot === rest.length - 1) throw new InitError('Runtime.MalformedHandlerName', 'Bad handler');
  const moduleName = rest.slice(0, dot);
  const fnPath = rest.slice(dot + 1);
  const mod = await loadModule(TASK_ROOT, dir + moduleName);
  let fn = mod;
  for (const part of fnPath.split('.')) {
    fn = fn?.[part];
    // an ESM namespace of a CommonJS module: module.exports is `default`
    if (fn === undefined && mod && part === fnPath.split('.')[0] && mod.default && typeof mod.default === 'object') fn = mod.default[part];
  }
  if (fn === undefined) throw new InitError('Runtime.HandlerNotFound', `${dir}${moduleName}.${fnPath} is undefined or not exported`);
  if (typeof fn !== 'function') throw new InitError('Runtime.HandlerNotFound', `${dir}${moduleName}.${fnPath} is not a function`);
  return fn;
}

// ---- invocations ---------------------------------------------------------------------------

/** the invocation in progress: its id and whether its result was posted */
let inFlight;

function contextOf(headers, settle) {
  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  let clientContext;
  let identity;
  try {
    if (headers['lambda-runtime-client-context']) clientContext = JSON.parse(headers['lambda-runtime-client-context']);
    if (headers['lambda-runtime-cognito-identity']) identity = JSON.parse(headers['lambda-runtime-cognito-identity']);
  } catch {
    // left undefined, as Lambda's runtime does for unparseable values
  }
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity,
    clientContext,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: (err, result) => settle(err, result, context.callbackWaitsForEmptyEventLoop),
    succeed: (result) => settle(null, result, context.callbackWaitsForEmptyEventLoop),
    fail: (err) => settle(err ?? 'handled', undefined, context.callbackWaitsForEmptyEventLoop),
  };
  return context;
}

async function post(id, err, result) {
  if (err !== null && err !== undefined) {
    const e = errorOf(err);
    logError('Invoke Error', e);
    return postError(`${BASE}/invocation/${encodeURIComponent(id)}/error`, e);
  }
  const body = result === undefined ? 'null' : safeStringify(result);
  if (body === undefined) {
    const e = { errorType: 'Runtime.JSONStringifyError', errorMessage: 'Unable to stringify response body', trace: [] };
    logError('Invoke Error', e);
    return postError(`${BASE}/invocation/${encodeURIComponent(id)}/error`, e);
  }
  await request('POST', `${BASE}/invocation/${encodeURIComponent(id)}/response`, body);
}

/** runs one invocation; resolves once its result has been posted */
function invoke(handler, res) {
  return new Promise((resolve) => {
    const id = res.headers['lambda-runtime-aws-request-id'];
    const flight = { id, settled: false };
    inFlight = flight;
    const finish = (err, result) => {
      post(id, err, result).then(resolve, (e) => {
        rawWrite(`harness bootstrap: could not post the result of ${id}: ${e.message}\n`);
        process.exit(1);
      });
    };
    const settle = (err, result, waitForEmptyLoop) => {
      if (flight.settled) return;
      flight.settled = true;
      if (waitForEmptyLoop) process.once('beforeExit', () => finish(err, result));
      else finish(err, result);
    };
    let event;
    try {
      event = res.body.length ? JSON.parse(res.body.toString('utf8')) : {};
    } catch (e) {
      flight.settled = true;
      return finish({ name: 'Runtime.UnmarshalError', message: `Unable to parse event: ${e.message}`, stack: '' });
    }
    const context = contextOf(res.headers, settle);
    const callback = (err, result) => settle(err, result, context.callbackWaitsForEmptyEventLoop);
    let returned;
    try {
      returned = handler(event, context, callback);
    } catch (e) {
      return settle(e, undefined, false);
    }
    if (returned && typeof returned.then === 'function') {
      returned.then(
        (result) => settle(null, result, false),
        (err) => settle(err ?? new Error('the handler rejected with no reason'), undefined, false),
      );
    } else if (handler.length < 3) {
      // a synchronous handler without a callback: its return value, once the loop is empty
      process.once('beforeExit', () => settle(null, returned, false));
    } else {
      // a callback handler that never calls back: null when the event loop is empty
      process.once('beforeExit', () => settle(null, null, false));
    }
  });
}

async function fatal(title, e) {
  const err = errorOf(e);
  if (title === 'Unhandled Promise Rejection') {
    err.errorType = 'Runtime.UnhandledPromiseRejection';
    err.errorMessage = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    err.trace = [`Runtime.UnhandledPromiseRejection: ${err.errorMessage}`, ...err.trace.slice(1)];
  }
  logError(title, err);
  const flight = inFlight;
  if (flight && !flight.settled) {
    flight.settled = true;
    await postError(`${BASE}/invocation/${encodeURIComponent(flight.id)}/error`, err).catch(() => undefined);
  }
  process.exit(129);
}

async function main() {
  let handler;
  try {
    handler = await loadHandler(HANDLER);
  } catch (e) {
    const err = e instanceof InitError ? { errorType: e.errorType, errorMessage: e.message, trace: e.trace } : errorOf(e);
    logError('Uncaught Exception', err);
    await postError(`${BASE}/init/error`, err).catch(() => undefined);
    process.exit(129);
  }
  for (;;) {
    const res = await request('GET', `${BASE}/invocation/next`);
    if (res.status !== 200) throw new Error(`invocation/next answered ${res.status}`);
    currentRequestId = res.headers['lambda-runtime-aws-request-id'];
    const trace = res.headers['lambda-runtime-trace-id'];
    if (trace) process.env._X_AMZN_TRACE_ID = trace;
    else delete process.env._X_AMZN_TRACE_ID;
    await invoke(handler, res);
  }
}

process.on('uncaughtException', (e) => void fatal('Uncaught Exception', e));
process.on('unhandledRejection', (e) => void fatal('Unhandled Promise Rejection', e));
main().catch((e) => {
  rawWrite(`harness bootstrap: ${e?.stack ?? e}\n`);
  process.exit(1);
});
