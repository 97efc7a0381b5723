import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

/** The run's certificate authority: tasks trust it (NODE_EXTRA_CA_CERTS), the harness signs with it. */
export interface HarnessCa {
  /** PEM of the CA certificate (what tasks add to their trust store) */
  certPem: string;
  certFile: string;
  keyFile: string;
}

export interface IssuedCert {
  key: Buffer;
  cert: Buffer;
  certFile: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
  } catch (e) {
    const msg = (e as { stderr?: Buffer })?.stderr?.toString().trim() || (e as Error).message;
    throw new Error(`openssl ${args[0]}: ${msg.split('\n')[0]}`);
  }
}

/**
 * The run's CA (EC P-256, 2 days) in `<runDir>/ca/`, made with `openssl` (node:crypto cannot
 * make X.509) by the first caller; later callers of the same run get the same CA, so every
 * certificate of a run (the Anthropic stand-in, the ECR registry) chains to the one CA tasks
 * and the engine trust. The key never leaves that directory (0600) and is never logged.
 */
export function createHarnessCa(runDir: string, runId: string): HarnessCa {
  const dir = path.join(runDir, 'ca');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyFile = path.join(dir, 'ca.key');
  const certFile = path.join(dir, 'ca.crt');
  if (fs.existsSync(keyFile) && fs.existsSync(certFile)) return { certPem: fs.readFileSync(certFile, 'utf8'), certFile, keyFile };
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/O=escher-harness/CN=escher-harness run ${runId} CA`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  fs.chmodSync(keyFile, 0o600);
  return { certPem: fs.readFileSync(certFile, 'utf8'), certFile, keyFile };
}

/** A server certificate for `names` (DNS names or IPv4 addresses) signed by the run's CA. */
export function issueServerCert(ca: HarnessCa, names: string[], label: string): IssuedCert {
  const dir = path.dirname(ca.certFile);
  const base = path.join(dir, label.replace(/[^A-Za-z0-9.-]/g, '_'));
  const keyFile = `${base}.key`;
  const csrFile = `${base}.csr`;
  const certFile = `${base}.crt`;
  const extFile = `${base}.ext`;
  const san = names.map((n) => (/^\d+\.\d+\.\d+\.\d+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csrFile, '-subj', `/CN=${names[0]}`], dir);
  fs.chmodSync(keyFile, 0o600);
  fs.writeFileSync(extFile, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`);
  openssl(['x509', '-req', '-in', csrFile, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', certFile, '-days', '2', '-sha256', '-extfile', extFile], dir);
  return { key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile), certFile };
}
