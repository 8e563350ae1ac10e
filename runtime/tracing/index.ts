import { context, createContextKey, INVALID_SPAN_CONTEXT, isSpanContextValid, ProxyTracerProvider, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Context, type Link, type Span, type SpanContext } from '@opentelemetry/api';

/**
 * Tracing over @opentelemetry/api: a no-op until the application registers an SDK (a tracer provider,
 * and a context manager for active spans across awaits). Messages carry the W3C `traceparent` in their
 * envelope, so a trace continues across every broker and the outbox; without an SDK the caller's
 * traceparent still flows on unchanged (causedBy), so the trace id survives.
 */

/** W3C Trace Context `traceparent`: version-traceid-parentid-flags, lowercase hex. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The span context a `traceparent` names, or undefined for a malformed or all-zero one (ignored, as the W3C spec says). */
export function parseTraceparent(value: string | undefined): SpanContext | undefined {
  const match = value === undefined ? null : TRACEPARENT.exec(value.trim());
  // Version ff is forbidden; version 00 has exactly four fields (later versions may add more).
  if (!match || match[1] === 'ff' || (match[1] === '00' && match[5] !== undefined)) return undefined;
  const spanContext: SpanContext = { traceId: match[2]!, spanId: match[3]!, traceFlags: parseInt(match[4]!, 16) & TraceFlags.SAMPLED, isRemote: true };
  return isSpanContextValid(spanContext) ? spanContext : undefined;
}

export function formatTraceparent(spanContext: SpanContext): string {
  return `00-${spanContext.traceId}-${spanContext.spanId}-${spanContext.traceFlags & TraceFlags.SAMPLED ? '01' : '00'}`;
}

/** The active span's traceparent; undefined when no span is active (always, without an SDK). */
export function activeTraceparent(): string | undefined {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext && isSpanContextValid(spanContext) ? formatTraceparent(spanContext) : undefined;
}

/**
 * The traceparent of a message created now: the active span's, so traces chain (the consumer's span
 * becomes a child of the span that produced the message), else the fallback (the cause's, or an HTTP
 * caller's), so the trace id flows on even without an SDK. A cause's value is passed on as it came
 * (a foreign producer's is not ours to drop); an HTTP header is checked where it is read.
 */
export function traceparentFor(fallback: string | undefined): string | undefined {
  return activeTraceparent() ?? fallback;
}

/** The context a message continues: the one its traceparent names, else the active one. */
export function messageContext(traceparent: string | undefined): Context {
  const parent = parseTraceparent(traceparent);
  return parent ? trace.setSpanContext(context.active(), parent) : context.active();
}

/** The active context when a span is active, else the one the message's traceparent names. */
function activeOr(traceparent: string | undefined): Context {
  return trace.getActiveSpan() ? context.active() : messageContext(traceparent);
}

/** The provider @opentelemetry/api delegates to until an SDK registers one (the API does not export it). */
const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();
const PROBE_CONTEXT = ROOT_CONTEXT.setValue(createContextKey('edaflow.tracing-probe'), true);
const probeIsActive = (): boolean => context.active() === PROBE_CONTEXT;
/** What `work` gets when no span is made: records nothing, as OpenTelemetry's own no-op spans. */
const NO_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Whether a span can matter: an SDK registered a tracer provider, or a context manager carries the
 * active context (then what a handler emits carries its span's context). By default neither holds, and
 * every span would be a no-op object made and dropped per message (about 2.5 KB of garbage and a few
 * µs for a consumed message's two spans), so the message paths skip them. Asked at every span: an SDK
 * may be registered after edaflow has started.
 */
export function tracingActive(): boolean {
  const provider = trace.getTracerProvider();
  if (!(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_TRACER_PROVIDER) return true;
  return context.with(PROBE_CONTEXT, probeIsActive);
}

/** A span to make: built only when tracing is active (see `inSpan`). */
export interface SpanOptions {
  readonly name: string;
  readonly kind?: SpanKind;
  readonly attributes?: Attributes;
  readonly links?: Link[];
  /** The parent; default: the active context. */
  readonly parent?: Context;
}

/**
 * Runs `work` in a new active span, ended when it settles; a thrown error marks the span failed and is
 * rethrown. `span` is called only when tracingActive(): otherwise `work` runs alone and nothing of the
 * span (its name, attributes, links, parent context) is built.
 */
export function inSpan<T>(span: () => SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  if (!tracingActive()) return untraced(work);
  const { name, kind = SpanKind.INTERNAL, attributes, links, parent = context.active() } = span();
  return trace.getTracer('edaflow').startActiveSpan(name, { kind, ...(attributes ? { attributes } : {}), ...(links ? { links } : {}) }, parent, (made) => endSpan(made, work));
}

function untraced<T>(work: (span: Span) => Promise<T>): Promise<T> {
  try {
    return work(NO_SPAN);
  } catch (error) {
    return Promise.reject(error);
  }
}

async function endSpan<T>(span: Span, work: (span: Span) => Promise<T>): Promise<T> {
  try {
    return await work(span);
  } catch (error) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    span.end();
  }
}

/** What a traced message carries: enough of an envelope to continue its trace and label its span. */
interface TracedMessage {
  readonly id: string;
  readonly type: string;
  readonly traceparent?: string;
}

function messageAttributes(message: TracedMessage, destination: string): Attributes {
  return { 'messaging.system': 'edaflow', 'messaging.destination.name': destination, 'messaging.message.id': message.id, 'cloudevents.event_type': message.type };
}

/** `publish <destination>` (PRODUCER), child of the active span, else of the message's trace (the outbox relay). */
export function publishSpan<T>(message: TracedMessage, destination: string, work: () => Promise<T>): Promise<T> {
  return inSpan(() => ({ name: `publish ${destination}`, kind: SpanKind.PRODUCER, attributes: messageAttributes(message, destination), parent: activeOr(message.traceparent) }), work);
}

/**
 * `publish <destination>` for a batch (the outbox relay): one message continues its trace; several,
 * each possibly of another trace, get a span of its own that links to each message's context.
 */
export function publishBatchSpan<T>(messages: readonly TracedMessage[], destination: string, work: () => Promise<T>): Promise<T> {
  if (messages.length === 1) return publishSpan(messages[0]!, destination, work);
  return inSpan(() => ({
    name: `publish ${destination}`,
    kind: SpanKind.PRODUCER,
    links: messages.flatMap((message) => {
      const spanContext = parseTraceparent(message.traceparent);
      return spanContext ? [{ context: spanContext }] : [];
    }),
    attributes: { 'messaging.system': 'edaflow', 'messaging.destination.name': destination, 'messaging.batch.message_count': messages.length },
  }), work);
}

/** `handle <type>`: a command handled in this process, without a broker (a child of the sender's span). */
export function inProcessSpan<T>(message: TracedMessage, work: () => Promise<T>): Promise<T> {
  return inSpan(() => ({ name: `handle ${message.type}`, attributes: { 'messaging.message.id': message.id, 'cloudevents.event_type': message.type }, parent: activeOr(message.traceparent) }), work);
}

/**
 * Wraps a consumer's handler: `consume <destination>` (CONSUMER) continuing the message's trace, with
 * `handler <name>` inside it, active while the handler runs (what it emits carries that span).
 */
export function traced<Message extends TracedMessage, Rest extends unknown[], Result>(
  name: string,
  destination: string,
  handle: (message: Message, ...rest: Rest) => Promise<Result>,
): (message: Message, ...rest: Rest) => Promise<Result> {
  const handlerSpan = (): SpanOptions => ({ name: `handler ${name}`, attributes: { 'edaflow.consumer': name } });
  return (message, ...rest) =>
    inSpan(() => ({ name: `consume ${destination}`, kind: SpanKind.CONSUMER, attributes: { ...messageAttributes(message, destination), 'edaflow.consumer': name }, parent: messageContext(message.traceparent) }), () =>
      inSpan(handlerSpan, () => handle(message, ...rest)),
    );
}

/** `append <stream>`, child of the active span, else of the first event's trace. */
export function appendSpan<T>(streamId: string, events: readonly TracedMessage[], work: () => Promise<T>): Promise<T> {
  return inSpan(() => ({ name: `append ${streamId}`, attributes: { 'edaflow.stream': streamId, 'edaflow.events': events.length }, parent: activeOr(events[0]?.traceparent) }), work);
}

/** `saga <name> <from>→<to>`, child of the active span, else of the causing message's trace (a timer has none). */
export function sagaTransitionSpan<T>(saga: string, from: string | undefined, to: string, cause: { readonly traceparent?: string } | undefined, work: () => Promise<T>): Promise<T> {
  return inSpan(() => ({ name: `saga ${saga} ${from ?? '(start)'}→${to}`, attributes: { 'edaflow.saga': saga, 'edaflow.saga.from': from ?? '', 'edaflow.saga.to': to }, parent: activeOr(cause?.traceparent) }), work);
}

/** `<METHOD> <route>` (SERVER) continuing the caller's `traceparent` header. */
export function serverSpan<T>(method: string, route: string, traceparent: string | undefined, work: () => Promise<T>): Promise<T> {
  return inSpan(() => ({ name: `${method} ${route}`, kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'http.route': route }, parent: messageContext(traceparent) }), work);
}

/** Adds attributes to the active span, if any (e.g. the HTTP status once a request is answered). */
export function annotateActiveSpan(attributes: Attributes): void {
  trace.getActiveSpan()?.setAttributes(attributes);
}
