import type { FastifyInstance } from 'fastify';
import type { Envelope } from '../envelope/index.js';
import { EdaflowError } from '../errors/index.js';
import { handleRecorded, readyServices, singleValued, traceparentHeader, type ApiOptions, type ApiServices } from './api.js';
import { authorize } from './auth.js';
import { readMessageBody } from './body.js';
import { answerIdempotently } from './idempotency.js';
import type { HttpResponse } from './server.js';
import { serverSpan } from '../tracing/index.js';

/**
 * `POST /commands/<Name>` with `{ data, id?, correlationId? }` (as `POST /events/<Type>`):
 * - the command's `roles` are checked first (401 / 403);
 * - `data` is validated against the command's schema (400 naming the JSON pointer);
 * - a command an aggregate handles in this process runs through the command bus before the answer:
 *   202 `{ id }`, or with `?wait=true` 200 `{ id, streamId, version }`; a refusal is 409 with the
 *   aggregate's `reject` message (EDA_COMMAND_REJECTED), a lost race 409 EDA_CONCURRENCY_CONFLICT;
 * - any other command is sent through the publisher (its queue, or its in-process handler): 202 `{ id }`.
 *   `?wait=true` is refused for a queued command (400): nothing here learns when its consumer is done;
 *   for an in-process handler the handler has run when the answer comes, so it is 200 `{ id }`.
 * An `Idempotency-Key` header makes a retry safe (see answerIdempotently).
 */
export function registerCommandRoutes(app: FastifyInstance, options: ApiOptions): void {
  app.post<{ Params: { name: string } }>('/commands/:name', async (request, reply) => {
    const name = request.params.name;
    const command = options.definitions.commands.get(name);
    const traceparent = traceparentHeader(request);
    return serverSpan('POST', '/commands/:name', traceparent, () => handleRecorded(options, reply, { kind: 'command', name: command ? name : undefined, requested: name }, async (context) => {
      if (!command) throw new EdaflowError('EDA_UNKNOWN_TYPE', `unknown command "${name}"`);
      await authorize(request, command.spec.roles, options.authenticate, options.logger, context);
      const services = readyServices(options.services);
      const wait = waitRequested(services, name, singleValued(request.query, 'EDA_REQUEST_INVALID'));
      const answered = await answerIdempotently(services.idempotency, request, context.principal?.subject ?? '', async (keyedId) => {
        const envelope = commandEnvelope(services, name, request.body, traceparent, keyedId);
        context.fields['id'] = envelope.id;
        return executeCommand(services, envelope, wait);
      });
      if (answered.response.status < 300) Object.assign(context.fields, answered.response.body);
      return answered;
    }));
  });
}

/** `?wait=true`, refused up front for a queued command: nothing here learns when its consumer is done. */
function waitRequested(services: ApiServices, type: string, query: Readonly<Record<string, string>>): boolean {
  const value = query['wait'];
  if (value === undefined || value === 'false') return false;
  if (value !== 'true' && value !== '') throw new EdaflowError('EDA_REQUEST_INVALID', `?wait must be true or false, got "${value}"`);
  const destination = services.catalog.destinationOf(type);
  if (destination) {
    throw new EdaflowError('EDA_REQUEST_INVALID', `?wait=true needs a command handled in this process; ${type} goes over ${destination.kind} ${destination.name}: send it without ?wait (202)`);
  }
  return true;
}

function commandEnvelope(services: ApiServices, type: string, body: unknown, traceparent: string | undefined, keyedId: string | undefined): Envelope {
  const { data, attributes } = readMessageBody(body, ['id', 'correlationId'] as const);
  services.catalog.assertPublishable(type, data);
  const id = attributes.id ?? keyedId;
  return services.publisher.envelopeOf(type, data, {
    ...(id !== undefined ? { id } : {}),
    ...(attributes.correlationId !== undefined ? { correlationId: attributes.correlationId } : {}),
    ...(traceparent !== undefined ? { traceparent } : {}),
  });
}

async function executeCommand(services: ApiServices, envelope: Envelope, wait: boolean): Promise<HttpResponse> {
  const destination = services.catalog.destinationOf(envelope.type);
  if (!destination && services.commandBus.handles(envelope.type)) {
    // The request's audit line (recordRequest) knows the user; the bus writes none of its own.
    const result = await services.commandBus.execute(envelope, { audited: true });
    return wait ? answer(200, { id: envelope.id, streamId: result.streamId, version: result.version }) : answer(202, { id: envelope.id });
  }
  await services.publisher.deliver(envelope);
  return answer(wait ? 200 : 202, { id: envelope.id });
}

function answer(status: number, body: Record<string, unknown>): HttpResponse {
  return { status, headers: {}, body };
}
