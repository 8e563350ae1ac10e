import type { FastifyInstance } from 'fastify';
import { EdaflowError } from '../errors/index.js';
import type { Publisher } from '../messaging/publisher.js';
import { readyServices, traceparentHeader } from './api.js';
import { serverSpan } from '../tracing/index.js';
import { readMessageBody } from './body.js';
import { answerIdempotently, type IdempotencyStore } from './idempotency.js';

export interface EventServices {
  readonly publisher: Publisher;
  readonly idempotency?: IdempotencyStore;
}

/**
 * `POST /events/<Type>`: publishes an event from outside (tests, replays, other systems). The body
 * holds `data` and optional envelope attributes, so a replay can set event time. 202 with the id;
 * 400 naming the JSON pointer when the data does not match the schema; 404 for an unknown type.
 * An `Idempotency-Key` header is honoured as for commands.
 */
export function registerEventRoutes(app: FastifyInstance, services: () => EventServices | undefined): void {
  app.post<{ Params: { type: string } }>('/events/:type', async (request, reply) => {
    const traceparent = traceparentHeader(request);
    return serverSpan('POST', '/events/:type', traceparent, async () => {
      const current = readyServices(services);
      const { response } = await answerIdempotently(current.idempotency, request, '', async (keyedId) => {
        const { data, attributes } = readMessageBody(request.body, ['id', 'subject', 'time', 'correlationId'] as const);
        if (attributes.time !== undefined && Number.isNaN(Date.parse(attributes.time))) throw new EdaflowError('EDA_PAYLOAD_INVALID', '/time must be an RFC 3339 date-time', { details: { pointer: '/time' } });
        const id = attributes.id ?? keyedId;
        const envelope = await current.publisher.publish(request.params.type, data, { ...attributes, ...(id !== undefined ? { id } : {}), ...(traceparent !== undefined ? { traceparent } : {}) });
        return { status: 202, headers: {}, body: { id: envelope.id, type: envelope.type, time: envelope.time } };
      });
      return reply.status(response.status).headers(response.headers).send(response.body);
    });
  });
}
