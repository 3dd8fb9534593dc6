/**
 * The config's `tls` section as each role uses it (README "HTTPS and WSS"): the certificate and key a node serves
 * with — the configured pair, or a self-signed one made for this machine (`npm start -- --tls`) — and the extra
 * certificate a node trusts when it joins signaling over https/wss.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createSelfSignedCertificate, type TlsFiles } from '../../signaling/index.js';
import { AthError } from '../../signaling/protocol/index.js';
import type { EdgeConfig } from './EdgeConfig.js';

/** A self-signed pair is made again when it has less than this left. */
const RENEW_BEFORE_MS = 24 * 3600 * 1000;
const SELF_SIGNED_DAYS = 90;

function configError(shortMessage: string, details?: string, cause?: unknown): AthError {
  return new AthError({ code: 'ATH_ERR_CONFIG', shortMessage, details, cause });
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw configError(`cannot read the ${what} ${file}`, undefined, cause);
  }
}

/** The names a self-signed certificate for this node is valid for: its bind address and loopback's. */
export function selfSignedHosts(bindHost: string): string[] {
  const wildcard = bindHost === '0.0.0.0' || bindHost === '::';
  return [...new Set([...(wildcard ? [] : [bindHost]), '127.0.0.1', 'localhost'])];
}

/** Whether `certPem` names every host (as IP or DNS subjectAltName) and is good for at least a day more. */
function stillGood(certPem: string, hosts: readonly string[], nowMs: number): boolean {
  try {
    const cert = new X509Certificate(certPem);
    if (new Date(cert.validTo).getTime() - nowMs < RENEW_BEFORE_MS) return false;
    const names = (cert.subjectAltName ?? '').split(', ');
    return hosts.every((host) => names.includes(`IP Address:${host}`) || names.includes(`DNS:${host}`));
  } catch {
    return false;
  }
}

/**
 * The self-signed pair in `dataDir/tls/` for these hosts: reused while it is valid for them for another day,
 * made again otherwise. The key is written 0600.
 */
export async function ensureSelfSignedPair({
  dataDir,
  hosts,
  nowMs = Date.now(),
}: {
  dataDir: string;
  hosts: readonly string[];
  nowMs?: number;
}): Promise<TlsFiles & { made: boolean }> {
  const dir = join(resolve(dataDir), 'tls');
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  if (existsSync(certFile) && existsSync(keyFile) && stillGood(readFileSync(certFile, 'utf8'), hosts, nowMs)) {
    return { certFile, keyFile, made: false };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { certPem, keyPem } = await createSelfSignedCertificate({ hosts, days: SELF_SIGNED_DAYS });
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  writeFileSync(certFile, certPem);
  return { certFile, keyFile, made: true };
}

/**
 * What this node serves TLS with: `tls.certFile` + `tls.keyFile` (both or neither; the key must be the
 * certificate's), else with `tls.selfSigned` the pair from `ensureSelfSignedPair`, else nothing (plain http/ws).
 * Throws ATH_ERR_CONFIG.
 */
export async function resolveTlsFiles(config: EdgeConfig): Promise<(TlsFiles & { selfSigned: boolean }) | undefined> {
  const { certFile, keyFile, selfSigned } = config.tls;
  if (certFile !== undefined || keyFile !== undefined) {
    if (certFile === undefined || keyFile === undefined) {
      throw configError('TLS needs both `tls.certFile` and `tls.keyFile` (--tls-cert, --tls-key)');
    }
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(readPem(certFile, 'TLS certificate'));
    } catch (cause) {
      if (cause instanceof AthError) throw cause;
      throw configError(`${certFile} is not a PEM certificate`, undefined, cause);
    }
    let matches: boolean;
    try {
      matches = cert.checkPrivateKey(createPrivateKey(readPem(keyFile, 'TLS key')));
    } catch (cause) {
      if (cause instanceof AthError) throw cause;
      throw configError(`${keyFile} is not a PEM private key`, undefined, cause);
    }
    if (!matches) throw configError(`${keyFile} is not the private key of ${certFile}`);
    return { certFile: resolve(certFile), keyFile: resolve(keyFile), selfSigned: false };
  }
  if (!selfSigned) return undefined;
  const pair = await ensureSelfSignedPair({ dataDir: config.dataDir, hosts: selfSignedHosts(config.bindHost) });
  return { certFile: pair.certFile, keyFile: pair.keyFile, selfSigned: true };
}

/** The PEM certificate named by `tls.caFile`, to trust beside the system's CAs when joining signaling. */
export function trustedSignalingCa(config: EdgeConfig): string | undefined {
  const file = config.tls.caFile;
  if (file === undefined) return undefined;
  const pem = readPem(file, 'CA certificate (tls.caFile)');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw configError(`${file} holds no PEM certificate`);
  return pem;
}
