/**
 * Joining signaling over https/wss when its certificate is not signed by a CA the system trusts (a private CA, or
 * signaling's self-signed certificate on one machine): the node names that certificate (`tls.caFile`) and trusts it
 * beside the system's CAs — for the HTTP calls (`/api/config`, the provider's API calls) and for the `/ws/node`
 * WebSocket. Node 20 has no way to add a CA to its defaults at run time, hence these two helpers.
 */
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';

/** The CAs to verify signaling's certificate with: the system's plus `ca` (undefined: Node's defaults). */
export function trustedCas(ca: string | undefined): string[] | undefined {
  return ca === undefined ? undefined : [...rootCertificates, ca];
}

/** TLS options for the `ws` client (`new WebSocket(url, protocols, options)`). */
export function wsTlsOptions(ca: string | undefined): { ca?: string[] } {
  const cas = trustedCas(ca);
  return cas ? { ca: cas } : {};
}

/**
 * `fetch`, trusting `ca` for https URLs as well as the system's CAs. Without `ca`, or for http URLs, it is the
 * global fetch. Bodies are strings (the JSON calls nodes make); the answer is a standard `Response`.
 */
export async function fetchTrusting(
  url: URL | string,
  init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal } = {},
  ca?: string,
): Promise<Response> {
  const target = new URL(url);
  if (ca === undefined || target.protocol !== 'https:') return fetch(target, init);
  return new Promise<Response>((resolve, reject) => {
    const req = httpsRequest(
      target,
      {
        method: init.method ?? 'GET',
        headers: init.headers,
        ca: trustedCas(ca),
        ...(init.signal ? { signal: init.signal } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (value === undefined) continue;
            for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
          }
          const status = res.statusCode ?? 502;
          const noBody = status === 204 || status === 304;
          resolve(
            new Response(noBody ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage, headers }),
          );
        });
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}
