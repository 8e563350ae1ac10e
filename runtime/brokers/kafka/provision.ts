import kafkajs, { type ITopicConfig } from 'kafkajs';
import { EdaflowError } from '../../errors/index.js';
import type { GroupSpec, Topology } from '../adapter.js';
import { brokerError, groupIdOf, joinTimeoutMs, kafkaErrorTypes, runJoined, type KafkaContext } from './client.js';
import { removedTopicOf } from './dead-letters.js';

const { ConfigResourceTypes } = kafkajs;

interface TopicPlan {
  readonly name: string;
  readonly partitions: number;
  /** Declared topics only: queue and dead-letter topics work with any partition count. */
  readonly checkPartitions: boolean;
  /** Settings the definitions declare: an existing topic that differs is a conflict. */
  readonly declared: Readonly<Record<string, string>>;
  /** Settings edaflow needs on topics it creates, left alone on existing ones. */
  readonly created: Readonly<Record<string, string>>;
}

// A dead letter waits until someone handles it: never let retention drop it.
const KEEP_FOREVER = { 'retention.ms': '-1' };

/**
 * Creates missing topics (declared topics, a topic per queue, a topic per dead-letter destination with
 * its removal-marker side topic) and checks existing ones. Replication factor: the broker's
 * `default.replication.factor` (BrokerConfig has no setting for it yet).
 */
export async function provision(context: KafkaContext, topology: Topology): Promise<void> {
  const plans = new Map<string, TopicPlan>();
  const add = (plan: TopicPlan): void => void (plans.has(plan.name) || plans.set(plan.name, plan));
  for (const topic of topology.topics) add({ name: topic.name, partitions: topic.partitions, checkPartitions: true, declared: retention(topic.retentionMs), created: {} });
  // A queue gets several partitions (options.queuePartitions, 6 by default): one partition has one
  // active consumer per group, so a one-partition queue would leave every other worker idle. Kafka
  // enforces no delivery limit (maxDeliveries): the pipeline's retry policy dead-letters instead.
  for (const queue of topology.queues) add({ name: queue.name, partitions: context.options.queuePartitions, checkPartitions: false, declared: retention(queue.messageTtlMs), created: {} });
  const deadLetters = [...topology.queues, ...topology.groups].map((spec) => spec.deadLetter).filter((name): name is string => name !== null);
  for (const name of deadLetters) {
    add({ name, partitions: 1, checkPartitions: false, declared: {}, created: KEEP_FOREVER });
    add({ name: removedTopicOf(name), partitions: 1, checkPartitions: false, declared: {}, created: { ...KEEP_FOREVER, 'cleanup.policy': 'compact' } });
  }
  try {
    const existing = new Set(await context.admin.listTopics());
    const missing = [...plans.values()].filter((plan) => !existing.has(plan.name));
    if (missing.length) await context.admin.createTopics({ topics: missing.map(topicConfig), waitForLeaders: true });
    await untilServed(async () => {
      // A leader in the metadata is not yet serving its partition; a consumer fetching that early
      // makes kafkajs rejoin its group. ListOffsets answered by every leader waits that out.
      await Promise.all(missing.map((plan) => context.admin.fetchTopicOffsets(plan.name)));
      // Every topic, not only those listed before: another process may have created one meanwhile.
      await checkExisting(context, [...plans.values()]);
      await Promise.all(topology.groups.filter((group) => group.destination.kind === 'topic').map((group) => startGroupAtEnd(context, group)));
    });
  } catch (error) {
    throw brokerError(context.name, 'provisioning', error);
  }
}

/**
 * What a broker answers about a partition it does not serve yet (the leader is still taking over), or
 * about a group whose coordinator is still loading the offsets topic (a freshly started broker).
 */
const NOT_SERVED_YET = [
  'UNKNOWN_TOPIC_OR_PARTITION', 'NOT_LEADER_FOR_PARTITION', 'LEADER_NOT_AVAILABLE', 'UNKNOWN_LEADER_EPOCH', 'FENCED_LEADER_EPOCH',
  'GROUP_LOAD_IN_PROGRESS', 'GROUP_COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR_FOR_GROUP',
];

/** Runs `step` again while the broker does not serve a just-created topic or a group yet (up to 15 s). */
async function untilServed(step: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await step();
    } catch (error) {
      if (Date.now() > deadline || !kafkaErrorTypes(error).some((type) => NOT_SERVED_YET.includes(type))) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Kafka keeps a queue's messages by time only, so a queue's message TTL becomes its retention. */
function retention(ms: number | undefined): Record<string, string> {
  return ms === undefined ? {} : { 'retention.ms': String(ms) };
}

function topicConfig(plan: TopicPlan): ITopicConfig {
  const configs = { ...plan.created, ...plan.declared };
  return { topic: plan.name, numPartitions: plan.partitions, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) };
}

async function checkExisting(context: KafkaContext, plans: readonly TopicPlan[]): Promise<void> {
  if (!plans.length) return;
  const metadata = await context.admin.fetchTopicMetadata({ topics: plans.map((plan) => plan.name) });
  const withSettings = plans.filter((plan) => Object.keys(plan.declared).length);
  const described = !withSettings.length ? { resources: [] } : await context.admin.describeConfigs({
    includeSynonyms: false,
    resources: withSettings.map((plan) => ({ type: ConfigResourceTypes.TOPIC, name: plan.name, configNames: Object.keys(plan.declared) })),
  });
  for (const plan of plans) {
    const partitions = metadata.topics.find((topic) => topic.name === plan.name)?.partitions.length;
    if (plan.checkPartitions && partitions !== plan.partitions) {
      throw conflict(context, plan.name, 'partitions', plan.partitions, partitions);
    }
    const entries = described.resources.find((resource) => resource.resourceName === plan.name)?.configEntries ?? [];
    for (const [setting, value] of Object.entries(plan.declared)) {
      const actual = entries.find((entry) => entry.configName === setting)?.configValue;
      if (actual !== value) throw conflict(context, plan.name, setting, value, actual);
    }
  }
}

function conflict(context: KafkaContext, topic: string, setting: string, declared: unknown, existing: unknown): EdaflowError {
  return new EdaflowError(
    'EDA_PROVISION_CONFLICT',
    `Kafka topic "${topic}" on broker ${context.name} exists with ${setting} ${String(existing ?? 'unset')}, but the definitions declare ${String(declared)}; change the definitions or the topic, edaflow never alters it`,
    { details: { topic, setting, declared, existing } },
  );
}

/**
 * A new group (no committed offset) starts at the topic's end as of provisioning (StartAt): a handler
 * added later must not replay the topic's whole retained history. The position is committed even on an
 * empty topic (offset 0): a group provisioned with its topic has a position from then on, so messages
 * published before its first consumer runs (`edaflow publish`, then `edaflow run`) are not skipped by
 * the next provisioning. Kafka commits offsets only for a group member, so a short-lived member of the
 * (empty) group commits them, once in the group's life.
 */
export async function startGroupAtEnd(context: KafkaContext, group: GroupSpec): Promise<void> {
  const groupId = groupIdOf(group.destination, group.group);
  const topic = group.destination.name;
  const [committed] = await context.admin.fetchOffsets({ groupId, topics: [topic] });
  if (committed?.partitions.some((partition) => partition.offset !== '-1')) return;
  const offsets = await context.admin.fetchTopicOffsets(topic);
  const { groups } = await context.admin.describeGroups([groupId]);
  // Members but no commits yet: the group already consumes, and its position is its own.
  if (groups[0] && !['Empty', 'Dead'].includes(groups[0].state)) return;
  const member = context.kafka.consumer({ groupId, maxWaitTimeInMs: 100, sessionTimeout: context.options.sessionTimeoutMs, heartbeatInterval: context.options.heartbeatIntervalMs, rebalanceTimeout: context.options.rebalanceTimeoutMs });
  try {
    await member.connect();
    await member.subscribe({ topics: [topic] });
    await runJoined(member, { autoCommit: false, eachBatch: async () => undefined }, joinTimeoutMs(context.options));
    member.pause([{ topic }]);
    await member.commitOffsets(offsets.map((partition) => ({ topic, partition: partition.partition, offset: partition.high })));
  } finally {
    await member.disconnect();
  }
}
