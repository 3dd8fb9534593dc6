import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';

export type MetricsRouteOptions = {
  registry: Registry;
  /** Brings state gauges up to date just before they are read. */
  beforeScrape?: () => void;
};

/** Prometheus exposition of this process's registry. */
export const metricsRoute: FastifyPluginAsync<MetricsRouteOptions> = async (app, { registry, beforeScrape }) => {
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    beforeScrape?.();
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
};
