// The stub's process lifecycle: start-up lines (what it serves; secrets only as set/unset),
// injected faults, one HTTP server per container port (all answering the same routes), the
// health paths, /version, and SIGTERM handling. What it serves comes from the contract
// (contract.mjs); the routes of its roles come from the entry point (stubs/service.mjs).
import http from 'node:http';
import { createHash } from 'node:crypto';
import { describeError } from './http-client.mjs';
import { handle } from './router.mjs';

/** Names whose values are never printed (besides those the contract names). */
const SECRET_NAME = /(^|_)(API_?KEY|KEY|SECRET|TOKEN|PASS|PASSWORD|CREDENTIALS?)(_|$)|JWKS/i;

/**
 * @typedef {object} ServiceHooks
 * @property {import('./router.mjs').Route[]} routes      served after health and /version
 * @property {() => Promise<{ ok: boolean, reason?: string }>} [health]
 *           asked on every health request; not ok → the health paths answer 503 with the reason
 * @property {() => Promise<void>} [onClose]
 * @property {string[]} [describe]                         what it serves, for the start-up line
 */

/**
 * Runs the stub in this process until SIGTERM/SIGINT. Never throws: a fatal problem is one
 * stderr line and a non-zero exit code, as a real container would do.
 * @param {import('./contract.mjs').StubContract} c
 * @param {Record<string, string | undefined>} env
 * @param {(c: import('./contract.mjs').StubContract, out: { log: (l: string) => void, logError: (l: string) => void }) => ServiceHooks | Promise<ServiceHooks>} makeHooks
 */
export async function runService(c, env, makeHooks) {
  const log = (/** @type {string} */ line) => void process.stdout.write(`${line}\n`);
  const logError = (/** @type {string} */ line) => void process.stderr.write(`${line}\n`);
  const { service, version, fault } = c;

  if (fault === 'crash') {
    logError(`FATAL ${service} ${version}: simulated start-up failure (STUB_FAULT=crash)`);
    process.exitCode = 1;
    return;
  }

  log(`${service} ${version} starting (pid ${process.pid}, ${process.platform}/${process.arch}, node ${process.version})`);
  const secretNames = [...new Set([...c.secretNames, ...Object.keys(env).filter((k) => SECRET_NAME.test(k) && !k.startsWith('STUB_'))])].sort();
  log(`secrets: ${secretNames.length ? secretNames.map((k) => `${k}=${env[k] ? '<set>' : '<unset>'}`).join(' ') : '(none)'}`);
  for (const name of c.echoEnv) {
    const v = env[name];
    log(v === undefined ? `env ${name} unset` : `env ${name} sha256=${createHash('sha256').update(v).digest('hex')}`);
  }
  for (const w of c.warnings) log(`warning: ${w}`);

  const hooks = await makeHooks(c, { log, logError });
  log(
    `serves: ports ${c.ports.join(',')}; health ${c.healthPaths.join(',')}; ` +
      `dependencies ${c.dependencies.length ? c.dependencies.map((d) => d.env).join(',') : '(none)'}` +
      (hooks.describe?.length ? `; ${hooks.describe.join('; ')}` : ''),
  );

  /** @type {import('./router.mjs').Route[]} */
  const routes = [
    ...c.healthPaths.map((path) => ({
      method: 'GET',
      path,
      handle: async () => {
        if (fault === 'unhealthy') return down(c, 'STUB_FAULT=unhealthy');
        const dep = hooks.health ? await hooks.health() : { ok: true };
        return dep.ok ? { status: 200, body: { status: 'UP', service, version } } : down(c, dep.reason ?? 'a dependency is down');
      },
    })),
    {
      method: 'GET',
      path: '/version',
      handle: () => ({ status: 200, body: { service, version, arch: process.arch, taskIp: env.HARNESS_TASK_IP || c.host } }),
    },
    ...hooks.routes,
  ];

  const servers = c.ports.map(() => {
    const s = http.createServer((req, res) => void handle(routes, req, res, { log, logError }));
    s.keepAliveTimeout = 2000;
    return s;
  });

  /** @type {NodeJS.Timeout | undefined} */
  let slowTimer;
  let stopping = false;
  const shutdown = (/** @type {string} */ signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: shutting down`);
    clearTimeout(slowTimer);
    // Exit 0 within a second even if a client holds a keep-alive connection open.
    setTimeout(() => process.exit(0), 900).unref();
    setTimeout(() => servers.forEach((s) => s.closeAllConnections()), 300).unref();
    const listening = servers.filter((s) => s.listening);
    if (listening.length === 0) process.exit(0);
    let open = listening.length;
    for (const s of listening) {
      s.close(() => {
        if (--open === 0) void Promise.resolve(hooks.onClose?.()).finally(() => process.exit(0));
      });
      s.closeIdleConnections();
    }
  };
  if (fault === 'ignore-sigterm') {
    process.on('SIGTERM', () => log('SIGTERM: ignored (STUB_FAULT=ignore-sigterm)'));
  } else {
    process.on('SIGTERM', () => shutdown('SIGTERM'));
  }
  process.on('SIGINT', () => shutdown('SIGINT'));

  const listen = () => {
    servers.forEach((server, i) => {
      const port = c.ports[i];
      server.on('error', (err) => {
        logError(`FATAL ${service}: cannot listen on ${c.host}:${port}: ${describeError(err)}`);
        process.exit(1);
      });
      server.listen(port, c.host, () => {
        const addr = /** @type {import('node:net').AddressInfo} */ (server.address());
        const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
        log(`${service} ${version} listening on http://${host}:${addr.port}`);
      });
    });
  };
  if (fault === 'slow-start') {
    log(`slow start (STUB_FAULT=slow-start): listening in ${Math.round(c.slowStartSeconds * 1000)}ms`);
    slowTimer = setTimeout(listen, c.slowStartSeconds * 1000);
  } else {
    listen();
  }
}

/** @returns {import('./router.mjs').Reply} */
function down(/** @type {import('./contract.mjs').StubContract} */ c, /** @type {string} */ reason) {
  return { status: 503, body: { status: 'DOWN', service: c.service, version: c.version, reason } };
}
