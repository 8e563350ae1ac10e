import type { FastifyInstance } from 'fastify';
import { EdaflowError } from '../errors/index.js';
import type { Publisher } from '../messaging/publisher.js';

interface EventBody {
  data?: unknown;
  id?: unknown;
  subject?: unknown;
  time?: unknown;
  correlationId?: unknown;
}

/**
 * `POST /events/<Type>`: publishes an event from outside (tests, replays, other systems). The body
 * holds `data` and optional envelope attributes, so a replay can set event time. 202 with the id;
 * 400 naming the JSON pointer when the data does not match the schema; 404 for an unknown type.
 */
export function registerEventRoutes(app: FastifyInstance, publisher: () => Publisher | undefined): void {
  app.post<{ Params: { type: string }; Body: EventBody }>('/events/:type', async (request, reply) => {
    const current = publisher();
    if (!current) throw new EdaflowError('EDA_STARTUP', 'not ready yet: brokers are starting');
    const body = request.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body) || !('data' in body)) {
      throw new EdaflowError('EDA_PAYLOAD_INVALID', 'the body must be a JSON object with `data` (and optionally id, subject, time, correlationId)');
    }
    const text = (name: keyof EventBody): string | undefined => {
      const value = body[name];
      if (value === undefined) return undefined;
      if (typeof value !== 'string' || value === '') throw new EdaflowError('EDA_PAYLOAD_INVALID', `/${name} must be a non-empty string`);
      return value;
    };
    const time = text('time');
    if (time !== undefined && Number.isNaN(Date.parse(time))) throw new EdaflowError('EDA_PAYLOAD_INVALID', '/time must be an RFC 3339 date-time');
    const options = { id: text('id'), subject: text('subject'), time, correlationId: text('correlationId') };
    const envelope = await current.publish(request.params.type, body.data, Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)));
    return reply.status(202).send({ id: envelope.id, type: envelope.type, time: envelope.time });
  });
}
