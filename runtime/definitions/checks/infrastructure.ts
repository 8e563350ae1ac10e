import { IMPLICIT_BROKER } from '../model.js';
import { CheckContext, isObject } from './context.js';

/** The broker type a topic or queue ends up on, following `broker` and `defaults.broker`. */
function brokerTypeOf(ctx: CheckContext, declared: unknown): string | undefined {
  const defaultBroker = ctx.merged.settings.defaults.get('broker')?.spec;
  const name = typeof declared === 'string' ? declared : typeof defaultBroker === 'string' ? defaultBroker : undefined;
  const brokers = ctx.merged.sections.brokers;
  if (name === undefined) return brokers.size === 0 ? 'postgres' : brokers.size === 1 ? String([...brokers.values()][0]!.spec['type']) : undefined;
  if (name === IMPLICIT_BROKER && brokers.size === 0) return 'postgres';
  const broker = brokers.get(name);
  return broker && isObject(broker.spec) ? String(broker.spec['type']) : undefined;
}

export function checkInfrastructure(ctx: CheckContext): void {
  for (const topic of ctx.sound('topics')) {
    if (brokerTypeOf(ctx, topic.spec['broker']) === 'sqs') {
      ctx.report('EDA_TOPIC_ON_SQS', `topic "${topic.name}" is on an SQS broker, which has no publish/subscribe: declare it under \`queues\``, topic, [], 'key');
    }
  }
  const brokers = ctx.merged.sections.brokers;
  const defaultBroker = ctx.merged.settings.defaults.get('broker');
  if (brokers.size > 1 && !defaultBroker && ctx.complete) {
    for (const section of ['topics', 'queues'] as const) {
      for (const entry of ctx.sound(section)) {
        if (entry.spec['broker'] === undefined) ctx.report('EDA_MISSING_KEY', `${section.slice(0, -1)} "${entry.name}" names no broker and there are several: add \`broker:\` or \`defaults.broker\``, entry, [], 'key');
      }
    }
  }
  for (const aggregate of ctx.sound('aggregates')) {
    const handle = isObject(aggregate.spec['handle']) ? aggregate.spec['handle'] : {};
    for (const [command, decision] of Object.entries(handle)) {
      if (!isObject(decision)) continue;
      const hasCode = decision['handler'] !== undefined;
      const hasEmit = decision['emit'] !== undefined;
      if (hasCode === hasEmit) {
        ctx.report('EDA_HANDLE_FORM', hasCode ? `${command}: use \`handler\` or \`emit\`, not both` : `${command}: say what it emits (\`emit\`) or name a typed \`handler\``, aggregate, ['handle', command], 'key');
      }
      if (decision['reject'] !== undefined && decision['when'] === undefined) ctx.report('EDA_HANDLE_FORM', `${command}: \`reject\` is the message when \`when\` is false; add \`when\``, aggregate, ['handle', command, 'reject'], 'key');
    }
  }
}
