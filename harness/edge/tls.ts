import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

export interface TlsMaterial {
  key: Buffer;
  cert: Buffer;
  certFile: string;
}

/**
 * A self-signed certificate for the ALB's HTTPS listeners, generated with `openssl` into
 * `<runDir>/alb/` (node:crypto cannot make X.509). The private key never leaves that
 * directory (mode 0600) and is never logged. Returns why when openssl is missing or fails.
 */
export function generateSelfSignedCert(runDir: string, names: string[]): TlsMaterial | { error: string } {
  const dir = path.join(runDir, 'alb');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyFile = path.join(dir, 'tls.key');
  const certFile = path.join(dir, 'tls.crt');
  const san = ['DNS:localhost', 'IP:127.0.0.1', ...names.map((n) => (/^\d+\.\d+\.\d+\.\d+$/.test(n) ? `IP:${n}` : `DNS:${n}`))].join(',');
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${names[0] ?? 'localhost'}`, '-addext', `subjectAltName=${san}`],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 },
    );
    fs.chmodSync(keyFile, 0o600);
    return { key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile), certFile };
  } catch (e) {
    const msg = (e as { stderr?: Buffer })?.stderr?.toString().trim() || (e as Error).message;
    return { error: `openssl could not make a self-signed certificate: ${msg.split('\n')[0]}` };
  }
}
