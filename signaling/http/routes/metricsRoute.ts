import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';

export type MetricsRouteOptions = { registry: Registry };

/** Prometheus exposition of this process's registry. */
export const metricsRoute: FastifyPluginAsync<MetricsRouteOptions> = async (app, { registry }) => {
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
};
