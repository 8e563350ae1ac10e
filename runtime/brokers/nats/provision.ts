import {
  AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType,
  type ConsumerConfig, type JetStreamManager, type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { EdaflowError } from '../../errors/index.js';
import type { GroupSpec, StartAt, Topology } from '../adapter.js';
import { streamName, streamSubjects, token, type StreamKind } from './wire.js';

/** One shared durable consumer per queue: WorkQueue retention allows a single unfiltered consumer, and every subscriber competes on it. */
export const QUEUE_CONSUMER = 'workers';
/** Deliveries the server makes beyond the retry policy's attempts: crashes and stops also count as deliveries. */
const MAX_DELIVER_MARGIN = 5;
export const ACK_WAIT_MS = 30_000;
/** The server's default duplicate window; shortened when the retention is shorter (the server requires it). */
const DUPLICATE_WINDOW_MS = 120_000;

export interface StreamDeclaration {
  readonly kind: StreamKind;
  readonly name: string;
  readonly maxAgeMs?: number;
}

export function topologyStreams(topology: Topology): StreamDeclaration[] {
  const streams: StreamDeclaration[] = [];
  for (const topic of topology.topics) streams.push({ kind: 'topic', name: topic.name, ...(topic.retentionMs ? { maxAgeMs: topic.retentionMs } : {}) });
  for (const queue of topology.queues) {
    streams.push({ kind: 'queue', name: queue.name, ...(queue.messageTtlMs ? { maxAgeMs: queue.messageTtlMs } : {}) });
    if (queue.deadLetter) streams.push({ kind: 'dlq', name: queue.deadLetter });
  }
  for (const group of topology.groups) if (group.deadLetter) streams.push({ kind: 'dlq', name: group.deadLetter });
  return streams;
}

/**
 * Topics keep every message for every group (limits retention); a queue's messages leave once acked
 * (work-queue retention); dead-letter streams keep messages until retried or purged.
 */
function streamConfig(declaration: StreamDeclaration): Partial<StreamConfig> & { name: string } {
  const maxAge = declaration.maxAgeMs ?? 0;
  return {
    name: streamName(declaration.kind, declaration.name),
    subjects: streamSubjects(declaration.kind, declaration.name),
    retention: declaration.kind === 'queue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: 1,
    max_age: nanos(maxAge),
    duplicate_window: nanos(maxAge > 0 ? Math.min(maxAge, DUPLICATE_WINDOW_MS) : DUPLICATE_WINDOW_MS),
  };
}

function conflict(what: string, setting: string, declared: unknown, existing: unknown): EdaflowError {
  return new EdaflowError('EDA_PROVISION_CONFLICT', `${what} exists with ${setting} ${JSON.stringify(existing)}, the definitions declare ${JSON.stringify(declared)}`, {
    details: { setting, declared, existing },
  });
}

export function isNotFound(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

/** Creates the stream, or verifies that the existing one has the declared settings. */
export async function ensureStream(jsm: JetStreamManager, declaration: StreamDeclaration): Promise<void> {
  const wanted = streamConfig(declaration);
  let existing: StreamConfig;
  try {
    existing = (await jsm.streams.info(wanted.name)).config;
  } catch (error) {
    if (!isNotFound(error, JetStreamApiCodes.StreamNotFound)) throw error;
    await jsm.streams.add(wanted);
    return;
  }
  const what = `NATS stream ${wanted.name} (${declaration.kind} ${declaration.name})`;
  if (existing.retention !== wanted.retention) throw conflict(what, 'retention', wanted.retention, existing.retention);
  const sameSubjects = [...existing.subjects].sort().join(' ') === [...wanted.subjects!].sort().join(' ');
  if (!sameSubjects) throw conflict(what, 'subjects', wanted.subjects, existing.subjects);
  if (existing.max_age !== wanted.max_age) throw conflict(what, 'max_age (ms)', declaration.maxAgeMs ?? 0, Math.round(existing.max_age / 1e6));
}

export function consumerName(group: GroupSpec): string {
  return group.destination.kind === 'queue' ? QUEUE_CONSUMER : token(group.group);
}

/**
 * A durable pull consumer with explicit acks. `max_deliver` stays above the retry policy's attempts
 * so the server never gives up before the pipeline dead-letters; the pipeline bounds unsettled
 * deliveries per subscriber (prefetch), so `max_ack_pending` is only a server-side safety cap.
 */
function consumerConfig(group: GroupSpec): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: consumerName(group),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(ACK_WAIT_MS),
    max_deliver: group.retry.attempts + MAX_DELIVER_MARGIN,
    max_ack_pending: 10_000,
  };
}

/**
 * Where a new consumer of a topic starts (StartAt): 'latest' is the stream's end as seen now — the
 * next sequence, so a message stored meanwhile is delivered, not skipped. A queue's consumer takes all.
 */
async function startPolicy(jsm: JetStreamManager, group: GroupSpec, startAt: StartAt): Promise<Partial<ConsumerConfig>> {
  if (group.destination.kind !== 'topic' || startAt === 'earliest') return { deliver_policy: DeliverPolicy.All };
  const { state } = await jsm.streams.info(streamName('topic', group.destination.name));
  return state.last_seq === 0 ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: state.last_seq + 1 };
}

/** Deliver policies of a consumer edaflow created: where it started, which no longer matters once it exists. */
const START_POLICIES: readonly string[] = [DeliverPolicy.All, DeliverPolicy.StartSequence];

/** How long the server keeps a throwaway consumer (`edaflow tail`) nobody pulls from: a killed tail leaves nothing behind. */
const EPHEMERAL_INACTIVE_MS = 60_000;

/** A throwaway consumer for `edaflow tail`: server-named, removed by the server once unused; returns its name. */
export async function addEphemeralConsumer(jsm: JetStreamManager, group: GroupSpec, startAt: StartAt): Promise<string> {
  const { durable_name: _durable, ...config } = consumerConfig(group);
  const stream = streamName(group.destination.kind, group.destination.name);
  const info = await jsm.consumers.add(stream, { ...config, ...(await startPolicy(jsm, group, startAt)), inactive_threshold: nanos(EPHEMERAL_INACTIVE_MS) });
  return info.name;
}

/**
 * Creates the group's consumer or verifies it. Settings the server can change (max_deliver, ack_wait)
 * follow the definitions; the ones it cannot (ack and deliver policy, filter) are a conflict.
 */
export async function ensureConsumer(jsm: JetStreamManager, group: GroupSpec, startAt: StartAt): Promise<void> {
  const stream = streamName(group.destination.kind, group.destination.name);
  const wanted = consumerConfig(group);
  let existing: ConsumerConfig;
  try {
    existing = (await jsm.consumers.info(stream, wanted.durable_name)).config;
  } catch (error) {
    if (!isNotFound(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
    await jsm.consumers.add(stream, { ...wanted, ...(await startPolicy(jsm, group, startAt)) });
    return;
  }
  const what = `NATS consumer ${wanted.durable_name} on stream ${stream}`;
  if (existing.ack_policy !== wanted.ack_policy) throw conflict(what, 'ack_policy', wanted.ack_policy, existing.ack_policy);
  if (!START_POLICIES.includes(existing.deliver_policy)) throw conflict(what, 'deliver_policy', wanted.deliver_policy, existing.deliver_policy);
  if (existing.filter_subject) throw conflict(what, 'filter_subject', undefined, existing.filter_subject);
  if (existing.deliver_subject) throw conflict(what, 'deliver_subject (a push consumer)', undefined, existing.deliver_subject);
  // Several groups on one queue share its consumer: keep the largest max_deliver any of them needs.
  const maxDeliver = Math.max(wanted.max_deliver!, existing.max_deliver ?? 0);
  if (existing.max_deliver !== maxDeliver || existing.ack_wait !== wanted.ack_wait) {
    await jsm.consumers.update(stream, wanted.durable_name, { max_deliver: maxDeliver, ack_wait: wanted.ack_wait! });
  }
}
