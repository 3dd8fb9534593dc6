/**
 * Serving fastify over https: the same app, its server made by `https.createServer` with the node's certificate
 * and key (read once at start). Signaling's HTTP API and WebSocket fallback use it, and a render host's probe
 * endpoint, so that an https page can reach them (a page served over https may not open ws:// or http://).
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { FastifyServerFactory } from 'fastify';
import { AthError } from '../protocol/index.js';

/** A PEM certificate (chain) and its private key, as files (uWebSockets.js's SSLApp reads files). */
export type TlsFiles = { certFile: string; keyFile: string };

/** Reads the pair; throws ATH_ERR_CONFIG naming the file that cannot be read. */
export function readTlsFiles({ certFile, keyFile }: TlsFiles): { cert: Buffer; key: Buffer } {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (cause) {
      throw new AthError({ code: 'ATH_ERR_CONFIG', shortMessage: `cannot read the TLS ${what} ${file}`, cause });
    }
  };
  return { cert: read(certFile, 'certificate'), key: read(keyFile, 'key') };
}

/** fastify options that make it serve https with this pair (nothing: plain http). */
export function tlsServerOptions(tls: TlsFiles | undefined): { serverFactory?: FastifyServerFactory } {
  if (!tls) return {};
  const pair = readTlsFiles(tls);
  return {
    serverFactory: (handler): Server => createServer(pair, handler),
  };
}
