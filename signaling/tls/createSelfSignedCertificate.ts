/**
 * A self-signed certificate for TLS on one machine (`npm start --tls`, the test coturn): pure JavaScript
 * (`selfsigned`, on WebCrypto), so it needs nothing but `npm ci` — no openssl binary. EC P-256, SHA-256,
 * valid for the names and addresses given (subjectAltName) for `days`. A browser warns about it; Node trusts
 * it where it is named in NODE_EXTRA_CA_CERTS.
 */
import { isIP } from 'node:net';
import selfsigned from 'selfsigned';

export type CreateSelfSignedCertificateParameters = {
  /** DNS names and IP addresses it is valid for; the first is the common name. */
  hosts: readonly string[];
  days?: number;
};

export type SelfSignedCertificate = { certPem: string; keyPem: string };

export async function createSelfSignedCertificate({
  hosts,
  days = 30,
}: CreateSelfSignedCertificateParameters): Promise<SelfSignedCertificate> {
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(notBeforeDate.getTime() + days * 86_400_000);
  const altNames = hosts.map((host) =>
    isIP(host) ? { type: 7 as const, ip: host } : { type: 2 as const, value: host },
  );
  const pems = await selfsigned.generate([{ name: 'commonName', value: hosts[0] ?? 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  return { certPem: pems.cert, keyPem: pems.private };
}
