// The generic stub's environment contract: everything it serves is told by its environment,
// never by its name. Two sources:
//
// Image ENV (the catalogue's tag: what kind of release this is)
//   STUB_VERSION            the image tag, reported by /version, health and /api/trace (default 'dev')
//   STUB_FAULT              '' | 'unhealthy' (health paths answer 503) | 'crash' (error line, exit 1 at
//                           start) | 'slow-start' (listen only after STUB_SLOW_START_SECONDS ×
//                           HARNESS_TIME_SCALE seconds) | 'ignore-sigterm' (SIGTERM is logged, ignored)
//   STUB_SLOW_START_SECONDS default 20
//   HARNESS_TIME_SCALE      default 1
//   STUB_HOP_TIMEOUT_MS     time budget for a call to a dependency, default 3000; it shrinks down a
//                           chain (each hop passes on 80% minus 50 ms, at least 50 ms)
//   STUB_ECHO_ENV           comma-separated names: at start, log "env NAME sha256=<hex>" (or "unset")
//                           for each, so a test can prove a (secret) value reached the process
//                           without the value itself ever being printed
//
// Per-task ENV (the harness computes it from the task definition and what fronts the service)
//   STUB_SERVICE            the name it reports (the ECS service name); default the container name
//                           (HARNESS_CONTAINER_NAME), else 'service'
//   STUB_PORTS              comma-separated container ports; it listens on every one (0 = any free
//                           port); default 8080
//   HOST                    listen address, default 0.0.0.0
//   STUB_HEALTH_PATHS       comma-separated paths that answer health; default /health.
//                           200 {status: 'UP', service, version}; 503 {status: 'DOWN', service,
//                           version, reason} with STUB_FAULT=unhealthy or while its database is down
//   STUB_DEPENDENCIES       comma-separated env NAMES whose values are the base URLs of the services
//                           it depends on (e.g. UI_AGENT_URL,INSIGHT_AGENT_URL), in order. /api/trace
//                           calls each one's /api/trace; the data and analysis routes it does not
//                           serve itself are forwarded to them. The name STUB_DATA_URL_ENV gives is
//                           never one (it is the database, not a stub)
//   STUB_DATA_URL_ENV       the name of the env var holding a SurrealDB URL: the stub serves the data
//                           API (/api/assets, alias /assets) from it, and its health follows the
//                           database's. The named var empty: assets in memory (logged)
//   STUB_DATA_CREDENTIALS_ENV  how the root credentials reach it: the name of an env var holding the
//                           secret JSON {"username", "password"}, or two names "USER_VAR,PASS_VAR"
//                           (ECS secrets with a JSON key each); unset: SURREAL_USER / SURREAL_PASS
//                           (SurrealDB's own names). SURREAL_NS / SURREAL_DB choose the namespace and
//                           database (default escher / assets), SURREAL_TIMEOUT_MS the per-query timeout
//   STUB_ANTHROPIC_KEY_ENV  the name of the env var holding an Anthropic API key: the stub serves
//                           POST /api/analysis (alias /api/analyze) by calling the Messages API at
//                           ANTHROPIC_BASE_URL (default the public API) with that key
//   STUB_ALB                '1' when a load balancer target group fronts the service: it serves
//                           GET /api/whoami (the ALB's x-amzn-oidc-* headers, the claims verified
//                           against ALB_PUBLIC_KEYS / ALB_PUBLIC_KEYS_URL, signer ALB_ARN)
// Harness task ENV it reads: HARNESS_TASK_IP (reported by /version), HARNESS_CONTAINER_NAME.

import { createHash } from 'node:crypto';

export const FAULTS = ['', 'unhealthy', 'crash', 'slow-start', 'ignore-sigterm'];
export const DEFAULT_PORT = 8080;
export const DEFAULT_HEALTH_PATH = '/health';
/** STUB_HOP_TIMEOUT_MS when unset or not a non-negative number: a call to a dependency's time budget, ms */
export const DEFAULT_HOP_TIMEOUT_MS = 3000;
/** SURREAL_TIMEOUT_MS when unset or not a positive number: the per-query timeout, ms */
export const DEFAULT_SURREAL_TIMEOUT_MS = 2000;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * @typedef {{ env: string, url: string }} Dependency   url '' when the variable is unset or empty
 *
 * @typedef {object} DataRole
 * @property {string} urlEnv
 * @property {string} url                       '' → in-memory storage
 * @property {{ username?: string, password?: string, source: string, problem?: string }} credentials
 * @property {string} namespace
 * @property {string} database
 * @property {number} timeoutMs
 *
 * @typedef {object} StubContract
 * @property {string} service
 * @property {string} identity                  how it names itself to other stubs (loop detection):
 *                                              STUB_SERVICE, else its default name + a hash of
 *                                              what it serves (two unnamed services stay distinct)
 * @property {string} version
 * @property {string} fault
 * @property {number} slowStartSeconds          already × HARNESS_TIME_SCALE
 * @property {number} hopTimeoutMs
 * @property {string[]} echoEnv
 * @property {string} host
 * @property {number[]} ports
 * @property {string[]} healthPaths
 * @property {Dependency[]} dependencies
 * @property {DataRole | undefined} data
 * @property {{ keyEnv: string } | undefined} analysis
 * @property {boolean} alb
 * @property {string[]} secretNames             env names whose values are secrets (named by the contract)
 * @property {string[]} warnings                one line each, logged at start
 */

/** 'a, b,,c' → ['a', 'b', 'c'] */
export function list(/** @type {string | undefined} */ value) {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * Reads the contract from an environment. Throws an Error (one line, for a FATAL start-up
 * message) when a value cannot mean anything: a real service with a broken config does not start.
 * @param {Record<string, string | undefined>} env
 * @returns {StubContract}
 */
export function readContract(env) {
  /** @type {string[]} */
  const warnings = [];
  const fault = env.STUB_FAULT ?? '';
  if (!FAULTS.includes(fault)) {
    throw new Error(`unknown STUB_FAULT ${JSON.stringify(fault)} (expected one of ${FAULTS.filter(Boolean).join(', ')})`);
  }

  const portList = list(env.STUB_PORTS);
  const ports = portList.length === 0 ? [DEFAULT_PORT] : portList.map(Number);
  const bad = portList.filter((_, i) => !Number.isInteger(ports[i]) || ports[i] < 0 || ports[i] > 65535);
  if (bad.length) throw new Error(`invalid STUB_PORTS ${JSON.stringify(env.STUB_PORTS)}: ${bad.join(', ')} is not a port (0-65535)`);

  const healthPaths = list(env.STUB_HEALTH_PATHS).map((p) => {
    const path = p.split(/[?#]/)[0] || '/';
    return path.startsWith('/') ? path : `/${path}`;
  });

  const names = (/** @type {string} */ key) => {
    const n = list(env[key]);
    const invalid = n.filter((x) => !ENV_NAME.test(x));
    if (invalid.length) throw new Error(`invalid ${key} ${JSON.stringify(env[key])}: ${invalid.join(', ')} is not an environment variable name`);
    return n;
  };

  const dataUrlEnv = names('STUB_DATA_URL_ENV')[0];
  const keyEnv = names('STUB_ANTHROPIC_KEY_ENV')[0];
  const credentialNames = names('STUB_DATA_CREDENTIALS_ENV');

  /** @type {Dependency[]} */
  const dependencies = [];
  for (const name of [...new Set(names('STUB_DEPENDENCIES'))]) {
    if (name === dataUrlEnv) continue; // the database: spoken to by the data API, not a stub to trace
    const url = (env[name] ?? '').trim().replace(/\/+$/, '');
    if (!url) warnings.push(`dependency ${name} is not set: calls to it fail`);
    dependencies.push({ env: name, url });
  }

  /** @type {DataRole | undefined} */
  let data;
  if (dataUrlEnv) {
    const timeout = Number(env.SURREAL_TIMEOUT_MS);
    data = {
      urlEnv: dataUrlEnv,
      url: (env[dataUrlEnv] ?? '').trim(),
      credentials: credentialsOf(env, credentialNames),
      namespace: env.SURREAL_NS || 'escher',
      database: env.SURREAL_DB || 'assets',
      timeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : DEFAULT_SURREAL_TIMEOUT_MS,
    };
  }

  const service = env.STUB_SERVICE || env.HARNESS_CONTAINER_NAME || 'service';
  const identity = env.STUB_SERVICE
    ? env.STUB_SERVICE
    : `${service}#${createHash('sha256').update(JSON.stringify([ports, healthPaths, dependencies, dataUrlEnv, keyEnv])).digest('hex').slice(0, 8)}`;
  return {
    service,
    identity,
    version: env.STUB_VERSION || 'dev',
    fault,
    slowStartSeconds: nonNegative(env.STUB_SLOW_START_SECONDS, 20) * nonNegative(env.HARNESS_TIME_SCALE, 1),
    hopTimeoutMs: nonNegative(env.STUB_HOP_TIMEOUT_MS, DEFAULT_HOP_TIMEOUT_MS),
    echoEnv: list(env.STUB_ECHO_ENV),
    host: env.HOST || '0.0.0.0',
    ports: [...new Set(ports)],
    healthPaths: healthPaths.length ? [...new Set(healthPaths)] : [DEFAULT_HEALTH_PATH],
    dependencies,
    data,
    analysis: keyEnv ? { keyEnv } : undefined,
    alb: env.STUB_ALB === '1' || env.STUB_ALB === 'true',
    secretNames: [...(keyEnv ? [keyEnv] : []), ...(credentialNames.length ? credentialNames : dataUrlEnv ? ['SURREAL_PASS'] : [])],
    warnings,
  };
}

/**
 * The database's root credentials, from the names STUB_DATA_CREDENTIALS_ENV gives (see above).
 * @param {Record<string, string | undefined>} env @param {string[]} names
 * @returns {DataRole['credentials']}
 */
function credentialsOf(env, names) {
  if (names.length === 0) {
    return { username: env.SURREAL_USER || undefined, password: env.SURREAL_PASS, source: 'SURREAL_USER/SURREAL_PASS' };
  }
  if (names.length >= 2) {
    const [u, p] = names;
    return { username: env[u] || undefined, password: env[p], source: `${u}/${p}` };
  }
  const [name] = names;
  const raw = env[name];
  if (!raw) return { source: name, problem: `${name} is not set` };
  try {
    const j = JSON.parse(raw);
    if (!j || typeof j !== 'object' || typeof j.username !== 'string') throw new Error('no username');
    return { username: j.username || undefined, password: typeof j.password === 'string' ? j.password : undefined, source: name };
  } catch {
    // never echo the value: it is a secret
    return { source: name, problem: `${name} is not a JSON object {"username", "password"}` };
  }
}

function nonNegative(/** @type {string | undefined} */ value, /** @type {number} */ fallback) {
  const n = Number(value);
  return value !== undefined && value !== '' && Number.isFinite(n) && n >= 0 ? n : fallback;
}
