// Loaded into task processes with `node --import <this file>` when a task has no network
// namespace (loopback mode) and so no resolv.conf of its own. It sends names in the Cloud Map
// zones to the harness DNS server and leaves everything else to Node's own resolution.
//
//   HARNESS_DNS_SERVER       "127.0.0.1:5353" (or "[::1]:5353")
//   HARNESS_DNS_ZONES        "corp.internal,other.zone": names in (or equal to) these zones
//   HARNESS_DNS_EXTRA_NAMES  "surrealdb.stand-in,…": further exact names to send there
//
// Only dns.lookup (callback form) and dns.promises.lookup are patched: net, http, https,
// undici and fetch all resolve through dns.lookup. Plain JavaScript, no imports from the
// harness: it runs inside the task, before the task's own code.
import dns from 'node:dns';
import net from 'node:net';
import { syncBuiltinESMExports } from 'node:module';

const UV_EAI_NONAME = -3008; // what getaddrinfo reports as ENOTFOUND
const UV_EAI_AGAIN = -3001; // temporary failure (server down, timeout, SERVFAIL)

function normalize(name) {
  return String(name).trim().replace(/\.$/, '').toLowerCase();
}

function list(value) {
  return String(value ?? '')
    .split(',')
    .map(normalize)
    .filter(Boolean);
}

const server = (process.env.HARNESS_DNS_SERVER ?? '').trim();
const zones = list(process.env.HARNESS_DNS_ZONES);
const extraNames = new Set(list(process.env.HARNESS_DNS_EXTRA_NAMES));

function isOurs(hostname) {
  if (typeof hostname !== 'string' || hostname === '' || net.isIP(hostname)) return false;
  const name = normalize(hostname);
  if (extraNames.has(name)) return true;
  return zones.some((z) => name === z || name.endsWith(`.${z}`));
}

/** The error getaddrinfo would have given (same message, code, errno, syscall, hostname). */
function lookupError(code, hostname) {
  const err = new Error(`getaddrinfo ${code} ${hostname}`);
  err.errno = code === 'ENOTFOUND' ? UV_EAI_NONAME : UV_EAI_AGAIN;
  err.code = code;
  err.syscall = 'getaddrinfo';
  err.hostname = hostname;
  return err;
}

function familyOf(options) {
  const f = typeof options === 'number' ? options : options?.family;
  if (f === 6 || f === 'IPv6') return 6;
  if (f === 4 || f === 'IPv4') return 4;
  return 0;
}

let resolver;
function getResolver() {
  if (!resolver) {
    resolver = new dns.promises.Resolver({ timeout: 2000, tries: 2 });
    resolver.setServers([server]);
  }
  return resolver;
}

/** Addresses for one of our names: [{address, family}], or throws the getaddrinfo-shaped error. */
async function resolveOurs(hostname, family) {
  const r = getResolver();
  const attempt = async (fam) => {
    try {
      const addrs = fam === 6 ? await r.resolve6(hostname) : await r.resolve4(hostname);
      return addrs.map((address) => ({ address, family: fam }));
    } catch (e) {
      if (e && (e.code === 'ENOTFOUND' || e.code === 'ENODATA')) return [];
      throw lookupError('EAI_AGAIN', hostname);
    }
  };
  let out = family === 6 ? await attempt(6) : await attempt(4);
  if (out.length === 0 && family === 0) out = await attempt(6);
  if (out.length === 0) throw lookupError('ENOTFOUND', hostname);
  return out;
}

function install() {
  const originalLookup = dns.lookup;
  const originalPromisesLookup = dns.promises.lookup;

  function lookup(hostname, options, callback) {
    if (typeof options === 'function') {
      callback = options;
      options = undefined;
    }
    if (typeof callback !== 'function' || !isOurs(hostname)) {
      // not ours (or a bad call Node should reject in its own words)
      return options === undefined
        ? originalLookup.call(this, hostname, callback)
        : originalLookup.call(this, hostname, options, callback);
    }
    const all = typeof options === 'object' && options !== null && options.all === true;
    resolveOurs(hostname, familyOf(options)).then(
      (addrs) =>
        process.nextTick(() => {
          if (all) callback(null, addrs);
          else callback(null, addrs[0].address, addrs[0].family);
        }),
      (err) => process.nextTick(() => callback(err)),
    );
    return {};
  }

  async function promisesLookup(hostname, options) {
    if (!isOurs(hostname)) return originalPromisesLookup.call(this, hostname, options);
    const addrs = await resolveOurs(hostname, familyOf(options));
    const all = typeof options === 'object' && options !== null && options.all === true;
    return all ? addrs : addrs[0];
  }

  Object.defineProperty(lookup, 'name', { value: 'lookup' });
  Object.defineProperty(promisesLookup, 'name', { value: 'lookup' });
  dns.lookup = lookup;
  dns.promises.lookup = promisesLookup;
  syncBuiltinESMExports();
}

if (server && (zones.length > 0 || extraNames.size > 0)) install();
