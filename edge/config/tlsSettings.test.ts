import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSelfSignedCertificate } from '../../signaling/index.js';
import { isAthError } from '../../signaling/protocol/index.js';
import { DEFAULT_EDGE_CONFIG, type EdgeConfig } from './EdgeConfig.js';
import { loadEdgeConfig } from './loadEdgeConfig.js';
import { ensureSelfSignedPair, resolveTlsFiles, selfSignedHosts, trustedSignalingCa } from './tlsSettings.js';

const withTls = (dataDir: string, tls: Partial<EdgeConfig['tls']>, bindHost = '127.0.0.1'): EdgeConfig => ({
  ...DEFAULT_EDGE_CONFIG,
  dataDir,
  bindHost,
  tls: { ...DEFAULT_EDGE_CONFIG.tls, ...tls },
});

test('`npm start --tls` reaches the config: npm hands the flag over as npm_config_tls', () => {
  assert.equal(loadEdgeConfig().tls.selfSigned, false);
  assert.equal(loadEdgeConfig({ env: { npm_config_tls: 'true' } }).tls.selfSigned, true);
});

test('no TLS settings: plain http/ws', async () => {
  assert.equal(await resolveTlsFiles(withTls(mkdtempSync(join(tmpdir(), 'ath-tls-')), {})), undefined);
});

test('self-signed: made in dataDir/tls for the bind address, key 0600, reused, made again for another address', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ath-tls-'));
  const first = await resolveTlsFiles(withTls(dataDir, { selfSigned: true }));
  assert.ok(first?.selfSigned);
  assert.equal(first.certFile, join(dataDir, 'tls', 'cert.pem'));
  assert.equal(statSync(first.keyFile).mode & 0o777, 0o600);
  const pem = readFileSync(first.certFile, 'utf8');
  const cert = new X509Certificate(pem);
  assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(first.keyFile))), 'the key is the certificate’s');
  await resolveTlsFiles(withTls(dataDir, { selfSigned: true }));
  assert.equal(readFileSync(first.certFile, 'utf8'), pem, 'the same pair next time');
  await resolveTlsFiles(withTls(dataDir, { selfSigned: true }, '10.1.2.3'));
  const remade = new X509Certificate(readFileSync(first.certFile, 'utf8'));
  assert.match(remade.subjectAltName ?? '', /IP Address:10\.1\.2\.3/, 'valid for the new bind address');
  assert.deepEqual(selfSignedHosts('0.0.0.0'), ['127.0.0.1', 'localhost']);
});

test('self-signed: made again when it is about to expire', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ath-tls-'));
  const hosts = ['127.0.0.1'];
  const made = await ensureSelfSignedPair({ dataDir, hosts });
  assert.equal(made.made, true);
  assert.equal((await ensureSelfSignedPair({ dataDir, hosts })).made, false);
  const in89Days = Date.now() + 89.5 * 86_400_000;
  assert.equal((await ensureSelfSignedPair({ dataDir, hosts, nowMs: in89Days })).made, true);
});

test('a configured pair: both files, the key must be the certificate’s; typed config errors otherwise', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ath-tls-'));
  const a = await createSelfSignedCertificate({ hosts: ['127.0.0.1'] });
  const b = await createSelfSignedCertificate({ hosts: ['127.0.0.1'] });
  writeFileSync(join(dir, 'a.pem'), a.certPem);
  writeFileSync(join(dir, 'a.key'), a.keyPem);
  writeFileSync(join(dir, 'b.key'), b.keyPem);
  writeFileSync(join(dir, 'junk.pem'), 'not a certificate');
  const ok = await resolveTlsFiles(withTls(dir, { certFile: join(dir, 'a.pem'), keyFile: join(dir, 'a.key') }));
  assert.deepEqual(ok, { certFile: join(dir, 'a.pem'), keyFile: join(dir, 'a.key'), selfSigned: false });
  const refused = async (tls: Partial<EdgeConfig['tls']>, pattern: RegExp) => {
    await assert.rejects(resolveTlsFiles(withTls(dir, tls)), (error: unknown) => {
      assert.ok(isAthError(error, 'ATH_ERR_CONFIG'), String(error));
      assert.match(error.shortMessage, pattern);
      return true;
    });
  };
  await refused({ certFile: join(dir, 'a.pem') }, /both/);
  await refused({ certFile: join(dir, 'a.pem'), keyFile: join(dir, 'b.key') }, /not the private key/);
  await refused({ certFile: join(dir, 'junk.pem'), keyFile: join(dir, 'a.key') }, /not a PEM certificate/);
  await refused({ certFile: join(dir, 'missing.pem'), keyFile: join(dir, 'a.key') }, /cannot read/);
});

test('tls.caFile: the PEM to trust joining signaling; unreadable or not a certificate is a config error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ath-tls-'));
  const { certPem } = await createSelfSignedCertificate({ hosts: ['127.0.0.1'] });
  writeFileSync(join(dir, 'ca.pem'), certPem);
  writeFileSync(join(dir, 'junk.pem'), 'hello');
  assert.equal(trustedSignalingCa(withTls(dir, {})), undefined);
  assert.equal(trustedSignalingCa(withTls(dir, { caFile: join(dir, 'ca.pem') })), certPem);
  for (const caFile of [join(dir, 'junk.pem'), join(dir, 'missing.pem')]) {
    assert.throws(
      () => trustedSignalingCa(withTls(dir, { caFile })),
      (error: unknown) => isAthError(error, 'ATH_ERR_CONFIG'),
    );
  }
});
