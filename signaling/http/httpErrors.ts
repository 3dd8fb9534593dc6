import type { FastifyError, FastifyInstance } from 'fastify';
import { type AthErrorCode, isAthError } from '../protocol/index.js';

/** One table from error code to HTTP status; anything not listed is a 500. */
const STATUS_BY_CODE: Partial<Record<AthErrorCode, number>> = {
  ATH_ERR_BAD_REQUEST: 400,
  ATH_ERR_BAD_MESSAGE: 400,
  ATH_ERR_UNAUTHORIZED: 401,
  ATH_ERR_TOKEN_EXPIRED: 401,
  ATH_ERR_BAD_SIGNATURE: 401,
  ATH_ERR_NOT_ALLOWED: 403,
  ATH_ERR_NOT_YOUR_SESSION: 403,
  ATH_ERR_ORIGIN_NOT_ALLOWED: 403,
  ATH_ERR_NOT_FOUND: 404,
  ATH_ERR_SESSION_NOT_FOUND: 404,
  ATH_ERR_UNKNOWN_GAME: 404,
  ATH_ERR_ALREADY_PLAYING: 409,
  ATH_ERR_NO_FREE_SLOT: 409,
  ATH_ERR_REPLAY: 409,
  ATH_ERR_INSUFFICIENT_FUNDS: 402,
  ATH_ERR_CAP_EXHAUSTED: 402,
  ATH_ERR_MESSAGE_TOO_LARGE: 413,
  ATH_ERR_RATE_LIMITED: 429,
};

/** Every error leaves as `{ code, message }` with a status from the table; internals stay in the log. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    if (isAthError(error)) {
      const status = STATUS_BY_CODE[error.code] ?? 500;
      if (status >= 500) request.log.error({ err: error }, 'request failed');
      return reply.status(status).send({ code: error.code, message: error.message });
    }
    if ('validation' in error && error.validation) {
      return reply.status(400).send({ code: 'ATH_ERR_BAD_REQUEST', message: error.message });
    }
    const status = 'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    return reply
      .status(status)
      .send({ code: status === 404 ? 'ATH_ERR_NOT_FOUND' : 'ATH_ERR_BAD_REQUEST', message: error.message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ code: 'ATH_ERR_NOT_FOUND', message: `no route ${request.method} ${request.url}` }),
  );
}
