import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SignalingHub } from '../../hub/SignalingHub.js';
import { HealthBody } from '../schemas.js';

export type HealthRoutesOptions = { hub: SignalingHub; startedAtMs: number; wsTransport: string };

export const healthRoutes: FastifyPluginAsyncTypebox<HealthRoutesOptions> = async (
  app,
  { hub, startedAtMs, wsTransport },
) => {
  app.get('/healthz', { schema: { response: { 200: HealthBody } } }, async () => {
    let hostsUp = 0;
    for (const host of hub.hosts.all()) if (host.state === 'up') hostsUp++;
    let sessionsLive = 0;
    for (const session of hub.sessions()) if (session.state !== 'ended') sessionsLive++;
    return { ok: true, uptimeSec: (Date.now() - startedAtMs) / 1000, hostsUp, sessionsLive, wsTransport };
  });
};
