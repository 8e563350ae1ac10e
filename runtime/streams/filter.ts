import { evaluateExpression } from '../core/expressions.js';
import { deterministicId, type Envelope } from '../envelope/index.js';
import type { FilterModel } from './model.js';
import type { StreamProcessor } from './processor.js';
import { dropped, emitEnvelope, evaluateKey, eventTime, type StepResult } from './record.js';

/** `from` + `filter` + `emit`: keeps the records the filter holds true for and maps each to one output. Stateless. */
export class FilterProcessor implements StreamProcessor {
  readonly buffered = 0;

  constructor(
    readonly model: FilterModel,
    public streamTime: number | undefined,
  ) {}

  async step(envelope: Envelope): Promise<StepResult> {
    const time = eventTime(envelope);
    if (time === undefined) return dropped(this.streamTime, 'no-time');
    const streamTime = Math.max(this.streamTime ?? time, time);
    if (this.model.filter !== undefined && (await evaluateExpression(this.model.filter, envelope)) !== true) {
      this.streamTime = streamTime;
      return dropped(streamTime, 'filtered');
    }
    const selector = this.model.inputs[0]!.key;
    const subject = selector !== undefined ? await evaluateKey(selector, envelope) : envelope.subject;
    const output = await emitEnvelope(this.model.emit, { id: deterministicId(this.model.name, 'record', envelope.id), time, subject, scope: { ...envelope }, cause: envelope });
    this.streamTime = streamTime;
    return { streamTime, added: [], matched: [], removed: [], outputs: [output] };
  }
}
