import { randomUUID } from 'node:crypto';
import { evaluateExpression } from '../../core/expressions.js';
import { asList } from '../../definitions/index.js';
import { createEnvelope, type Envelope } from '../../envelope/index.js';
import type { Logger } from '../../observability/logger.js';
import type { Outbox } from '../../outbox/index.js';
import type { Database, Transaction } from '../../store/database.js';
import { sagaTransitionSpan, traceparentFor } from '../../tracing/index.js';
import type { SagaMachine } from '../machine.js';
import { start, step } from '../run.js';
import { RETRY_COMPENSATION, TIMER_FIRED, type SagaEvent, type SagaStepResult } from '../types.js';
import { insertActivity } from './activity-rows.js';
import {
  cancelTimer, insertHistory, insertInstance, linkInbox, lockInstanceById, lockInstanceByKey,
  recordInbox, recordUnmatched, releaseEndedInstance, scheduleTimer, takeDueTimer, updateInstance, type InstanceRow,
} from './instances.js';

/** NOTIFY channel: a transition scheduled a timer or recorded an activity invocation. */
export const SAGA_WORK_CHANNEL = 'edaflow_saga_work';
/** The timer that re-runs a stuck compensation (`edaflow.retry`); `$` keeps it apart from the definition's timers. */
export const STUCK_RETRY_TIMER = '$retry';

/** What every transition needs besides its transaction. */
export interface TransitionContext {
  readonly machines: ReadonlyMap<string, SagaMachine>;
  readonly outbox: Outbox;
  /** CloudEvents `source` of what sagas send and emit. */
  readonly source: string;
  readonly logger: Logger;
  /** How long a stuck saga waits before its compensation is retried. */
  readonly stuckRetryMs: number;
  /** Told how long an instance stayed in a state it has just left (step latency). */
  readonly onStateLeft?: (saga: string, state: string, seconds: number) => void;
}

/** The runtime's own events and the messages a saga consumes, as history sees them. */
interface Cause {
  readonly type: string;
  readonly id: string | undefined;
  readonly envelope?: Envelope;
}

const RETRIABLE_SQL_STATES = new Set(['40001', '40P01']);
const TRANSACTION_ATTEMPTS = 5;

/** Runs `work` in a transaction, again when PostgreSQL aborted it for a deadlock or a serialization failure. */
export async function inTransaction<T>(database: Database, work: (tx: Transaction) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await database.transaction(work);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (attempt >= TRANSACTION_ATTEMPTS || typeof code !== 'string' || !RETRIABLE_SQL_STATES.has(code)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 * attempt * Math.random()));
    }
  }
}

/** The instance a message belongs to: the saga's `correlate` expression for its type, else its correlationid. */
export async function correlationKey(machine: SagaMachine, envelope: Envelope): Promise<string | undefined> {
  const expression = machine.definition.correlate?.[envelope.type];
  const value = expression === undefined ? envelope.correlationid : await evaluateExpression(expression, envelope);
  return value === undefined || value === null || value === '' ? undefined : String(value);
}

/**
 * Handles one consumed message for one saga, in one transaction: the inbox row (a redelivery stops
 * here), the instance (started, or found and locked), the transition, and its effects. A message that
 * finds no instance is recorded as unmatched.
 */
export async function handleMessage(database: Database, context: TransitionContext, machine: SagaMachine, envelope: Envelope): Promise<void> {
  const key = await correlationKey(machine, envelope);
  const starts = asList(machine.definition.startedBy).includes(envelope.type);
  // Evaluated before the transaction: it reads nothing from the database and may be slow-ish (JSONata).
  const started = starts && key !== undefined ? await start(machine, envelope) : undefined;
  const cause: Cause = { type: envelope.type, id: envelope.id, envelope };
  await inTransaction(database, async (tx) => {
    if (!(await recordInbox(tx, machine.name, envelope.id))) return;
    if (key === undefined) {
      context.logger.warn({ saga: machine.name, type: envelope.type, id: envelope.id }, 'message has no correlation key: recorded as unmatched');
      return recordUnmatched(tx, machine.name, envelope, undefined);
    }
    let instance = await lockInstanceByKey(tx, machine.name, key);
    if (!instance && started) {
      const correlationId = envelope.correlationid ?? envelope.id;
      const created = await insertInstance(tx, { id: randomUUID(), saga: machine.name, correlationKey: key, correlationId, fingerprint: machine.fingerprint }, started);
      if (created) {
        await linkInbox(tx, machine.name, envelope.id, created.id);
        await persistEffects(tx, context, machine, created, undefined, started, cause);
        return;
      }
      // A concurrent start committed first (we waited on its unique key): this message joins it.
      instance = await lockInstanceByKey(tx, machine.name, key);
    }
    if (!instance) return recordUnmatched(tx, machine.name, envelope, key);
    await linkInbox(tx, machine.name, envelope.id, instance.id);
    await applyEvent(tx, context, instance, envelope, cause);
  });
}

/**
 * Fires a due timer, in one transaction: takes the instance's lock (skipping an instance another
 * transaction holds: it is retried on the next round), deletes the timer row if it is still due, and
 * delivers it. False when the timer was not fired now.
 */
export async function fireTimer(database: Database, context: TransitionContext, instanceId: string, timer: string): Promise<boolean> {
  return inTransaction(database, async (tx) => {
    const instance = await lockInstanceById(tx, instanceId, { skipLocked: true });
    if (!instance) return false;
    if (!(await takeDueTimer(tx, instanceId, timer))) return false;
    const event: SagaEvent = timer === STUCK_RETRY_TIMER ? { type: RETRY_COMPENSATION } : { type: TIMER_FIRED, timer };
    await applyEvent(tx, context, instance, event, { type: event.type, id: timer });
    return true;
  });
}

/** Feeds one runtime event to a locked instance and stores what it changed. */
export async function applyEvent(tx: Transaction, context: TransitionContext, instance: InstanceRow, event: SagaEvent, cause: Cause): Promise<SagaStepResult | undefined> {
  const machine = context.machines.get(instance.saga);
  if (!machine) {
    context.logger.warn({ saga: instance.saga, instance: instance.id }, 'an instance of a saga the definitions no longer have: event ignored');
    return undefined;
  }
  const result = await step(machine, instance.snapshot, event);
  if (!result.changed) return result;
  await updateInstance(tx, instance, result);
  if (result.state !== instance.state) context.onStateLeft?.(instance.saga, instance.state, instance.idle_seconds);
  await persistEffects(tx, context, machine, { ...instance, version: instance.version + 1 }, instance, result, cause);
  return result;
}

/** History, timers, activity invocations and outbox rows of one transition, in its transaction, traced as `saga <name> <from>→<to>`. */
function persistEffects(tx: Transaction, context: TransitionContext, machine: SagaMachine, instance: InstanceRow, before: InstanceRow | undefined, result: SagaStepResult, cause: Cause): Promise<void> {
  return sagaTransitionSpan(machine.name, before?.state, result.state, cause.envelope, () => recordTransition(tx, context, machine, instance, before, result, cause));
}

async function recordTransition(tx: Transaction, context: TransitionContext, machine: SagaMachine, instance: InstanceRow, before: InstanceRow | undefined, result: SagaStepResult, cause: Cause): Promise<void> {
  await insertHistory(tx, { instanceId: instance.id, version: instance.version, from: before?.state, to: result.state, status: result.status, eventType: cause.type, eventId: cause.id });
  const messages: Envelope[] = [];
  let wakeWorkers = false;
  for (const effect of result.effects) {
    switch (effect.kind) {
      case 'send':
        messages.push(outgoing(context, instance, effect.command, effect.data, cause));
        break;
      case 'emit':
        messages.push(outgoing(context, instance, effect.event, effect.data, cause));
        break;
      case 'invoke':
        await insertActivity(tx, instance.id, effect);
        wakeWorkers = true;
        break;
      case 'schedule':
        await scheduleTimer(tx, instance.id, effect.timer, effect.delayMs);
        wakeWorkers = true;
        break;
      case 'cancel':
        await cancelTimer(tx, instance.id, effect.timer);
        break;
    }
  }
  if (result.status === 'completed' || result.status === 'failed') {
    // A final instance fires nothing more (its remaining timers would find no transition anyway).
    await releaseEndedInstance(tx, instance.id);
  } else if (result.status === 'stuck' && before?.status !== 'stuck') {
    const stuck = result.context.$saga?.stuck;
    context.logger.warn({ saga: machine.name, instance: instance.id, step: stuck?.step, error: stuck?.error, retryInMs: context.stuckRetryMs }, 'saga is stuck: a compensation failed every attempt');
    await scheduleTimer(tx, instance.id, STUCK_RETRY_TIMER, context.stuckRetryMs);
    wakeWorkers = true;
  }
  if (messages.length) await context.outbox.write(tx, messages);
  if (wakeWorkers) tx.notifyAfterCommit(SAGA_WORK_CHANNEL);
}

/** A command or event the saga sends: it carries the instance's correlation id, caused by the message handled. */
function outgoing(context: TransitionContext, instance: InstanceRow, type: string, data: unknown, cause: Cause): Envelope {
  // The transition's span when tracing, else the cause's traceparent (a timer has none).
  const traceparent = traceparentFor(cause.envelope?.traceparent);
  return createEnvelope(type, data, context.source, {
    correlationid: instance.correlation_id,
    ...(cause.envelope ? { causationid: cause.envelope.id } : {}),
    ...(traceparent !== undefined ? { traceparent } : {}),
  });
}
