/**
 * Property: for random `machine` sagas (states, events, guarded and unguarded transitions, targetless
 * ones, `assign`, entry/exit/transition `send`s, `always`, `after`) and random event orders, the
 * compiled saga driven through `start`/`step` (JSONata, snapshots through JSON, durable timers as
 * effects) ends every event in the same state, with the same context and the same commands sent, as a
 * plain in-memory XState actor (createActor, a SimulatedClock) of an equivalent machine written with
 * JavaScript guards and assigns.
 *
 * Seeded (SAGA_PROPERTY_SEED to replay a failure; the failing seed and definition are in the message).
 */
import { assign, createActor, createMachine, SimulatedClock, type AnyActorRef } from 'xstate';
import { describe, expect, it } from 'vitest';
import { createEnvelope, type Envelope } from '../../runtime/envelope/index.js';
import { DEFAULT_RETRY } from '../../runtime/definitions/index.js';
import { createSagaMachine, start, step, TIMER_FIRED, type PersistedSagaSnapshot, type SagaEffect, type SagaStepResult } from '../../runtime/sagas/index.js';
import { prng } from '../helpers/mutations.js';

const MACHINES = 150;
const BASE_SEED = Number(process.env['SAGA_PROPERTY_SEED'] ?? 20261127);
const EVENTS = ['E0', 'E1', 'E2'] as const;
const VARS = ['n', 'm'] as const;
const DELAYS = [100, 250, 400, 700];

type Context = { n: number; m: number };
type Message = { readonly type: string; readonly data?: { readonly v?: number } };
/** An expression in both languages: JSONata for the saga, JavaScript for the reference machine. */
interface Dual<T> {
  readonly jsonata: string;
  readonly js: (context: Context, message: Message) => T;
}

class Random {
  constructor(readonly next: () => number) {}
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
  shuffle<T>(items: readonly T[]): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy;
  }
}

const COMPARE: Record<string, (a: number, b: number) => boolean> = {
  '>': (a, b) => a > b, '<': (a, b) => a < b, '>=': (a, b) => a >= b, '=': (a, b) => a === b, '!=': (a, b) => a !== b,
};

/** `withEvent`: the expression may read the event (only where a real event triggers it: `on` transitions). */
function randomGuard(random: Random, withEvent: boolean): Dual<boolean> {
  const op = random.pick(Object.keys(COMPARE));
  const k = random.int(0, 6);
  const x = random.pick(VARS);
  const compare = COMPARE[op]!;
  switch (withEvent ? random.int(0, 2) : 0) {
    case 1: return { jsonata: `data.v ${op} ${k}`, js: (_, e) => compare(e.data!.v!, k) };
    case 2: return { jsonata: `event.data.v + context.${x} ${op} ${k}`, js: (c, e) => compare(e.data!.v! + c[x], k) };
    default: return { jsonata: `context.${x} ${op} ${k}`, js: (c) => compare(c[x], k) };
  }
}

function randomValue(random: Random, withEvent: boolean): { template: unknown; js: (context: Context, message: Message) => number } {
  const x = random.pick(VARS);
  const k = random.int(1, 3);
  switch (random.int(0, withEvent ? 4 : 2)) {
    case 0: return { template: `{% context.${x} + ${k} %}`, js: (c) => c[x] + k };
    case 1: return { template: `{% context.${x} * 2 %}`, js: (c) => c[x] * 2 };
    case 2: return { template: k, js: () => k };
    case 3: return { template: '{% data.v %}', js: (_, e) => e.data!.v! };
    default: return { template: `{% (context.${x} + data.v) % 5 %}`, js: (c, e) => (c[x] + e.data!.v!) % 5 };
  }
}

interface RandomAssign {
  readonly template: Record<string, unknown>;
  readonly js: (context: Context, message: Message) => Partial<Context>;
}

function randomAssign(random: Random, withEvent: boolean): RandomAssign {
  const vars = random.chance(0.5) ? [...VARS] : [random.pick(VARS)];
  const values = vars.map((name) => [name, randomValue(random, withEvent)] as const);
  return {
    template: Object.fromEntries(values.map(([name, value]) => [name, value.template])),
    // Every value reads the context as it was before the assign, as a template does.
    js: (c, e) => Object.fromEntries(values.map(([name, value]) => [name, value.js(c, e)])) as Partial<Context>,
  };
}

/** A `send` whose data shows the context (and the event, where there is one) at the moment it ran. */
interface RandomSend {
  readonly tag: string;
  readonly withEvent: boolean;
}

interface RandomTransition {
  readonly target?: string;
  readonly when?: Dual<boolean>;
  readonly assign?: RandomAssign;
  readonly send?: RandomSend;
}

type RandomAction = { readonly send: RandomSend } | { readonly assign: RandomAssign };

interface RandomState {
  readonly final: boolean;
  readonly entry: RandomAction[];
  readonly exit: RandomAction[];
  readonly on: Record<string, RandomTransition[]>;
  always: RandomTransition[];
  readonly after: Record<number, RandomTransition[]>;
}

interface RandomMachine {
  readonly states: Record<string, RandomState>;
}

function randomMachine(random: Random): RandomMachine {
  const count = random.int(2, 6);
  const names = Array.from({ length: count }, (_, i) => `s${i}`);
  let tags = 0;
  const send = (withEvent: boolean): RandomSend => ({ tag: `a${tags++}`, withEvent });
  const transition = (targets: readonly string[], withEvent: boolean, targetless: number): RandomTransition => ({
    ...(targets.length && !random.chance(targetless) ? { target: random.pick(targets) } : {}),
    ...(random.chance(0.5) ? { when: randomGuard(random, withEvent) } : {}),
    ...(random.chance(0.4) ? { assign: randomAssign(random, withEvent) } : {}),
    ...(random.chance(0.3) ? { send: send(withEvent) } : {}),
  });
  const states: Record<string, RandomState> = {};
  names.forEach((name, index) => {
    const final = index === count - 1 || (index > 0 && random.chance(0.2));
    const state: RandomState = { final, entry: [], exit: [], on: {}, always: [], after: {} };
    states[name] = state;
    if (random.chance(0.4)) state.entry.push({ send: send(false) });
    if (random.chance(0.2)) state.entry.push({ assign: randomAssign(random, false) });
    if (final) return;
    if (random.chance(0.3)) state.exit.push({ send: send(false) });
    for (const event of EVENTS) {
      if (random.chance(0.6)) state.on[event] = Array.from({ length: random.int(1, 3) }, () => transition(names, true, 0.25));
    }
    // Eventless transitions only go forward, so no event can loop forever.
    const later = names.slice(index + 1);
    if (later.length && random.chance(0.25)) state.always = Array.from({ length: random.int(1, 2) }, () => transition(later, false, 0));
    if (random.chance(0.3)) {
      const delays = random.shuffle(DELAYS).slice(0, random.int(1, 2));
      for (const delay of delays) state.after[delay] = [transition(names, false, 0.2)];
    }
  });
  return { states };
}

// ---- the same machine twice: as an edaflow saga definition, and as plain XState ----

function sagaDefinition(machine: RandomMachine) {
  const sendAction = (send: RandomSend) => ({ send: { command: 'Record', data: sendData(send) } });
  const action = (item: RandomAction) => ('send' in item ? sendAction(item.send) : { assign: item.assign.template });
  const transitions = (list: readonly RandomTransition[]) => list.map((t) => ({
    ...(t.target !== undefined ? { target: t.target } : {}),
    ...(t.when ? { when: t.when.jsonata } : {}),
    ...(t.assign ? { assign: t.assign.template } : {}),
    ...(t.send ? { actions: [sendAction(t.send)] } : {}),
  }));
  const states = Object.fromEntries(Object.entries(machine.states).map(([name, state]) => [name, {
    ...(state.final ? { type: 'final' as const } : {}),
    ...(state.entry.length ? { entry: state.entry.map(action) } : {}),
    ...(state.exit.length ? { exit: state.exit.map(action) } : {}),
    ...(Object.keys(state.on).length ? { on: Object.fromEntries(Object.entries(state.on).map(([event, list]) => [event, transitions(list)])) } : {}),
    ...(state.always.length ? { always: transitions(state.always) } : {}),
    ...(Object.keys(state.after).length ? { after: Object.fromEntries(Object.entries(state.after).map(([delay, list]) => [`${delay}ms`, transitions(list)])) } : {}),
  }]));
  return { startedBy: 'Start', context: { n: '{% data.n %}', m: 0 }, machine: { initial: 's0', states } };
}

function sendData(send: RandomSend): Record<string, unknown> {
  return { n: '{% context.n %}', m: '{% context.m %}', tag: send.tag, ...(send.withEvent ? { v: '{% data.v %}' } : {}) };
}

interface Reference {
  readonly actor: AnyActorRef;
  readonly clock: SimulatedClock;
  readonly sent: SagaEffect[];
}

function referenceMachine(machine: RandomMachine, startMessage: Message, initial: Context): Reference {
  const sent: SagaEffect[] = [];
  const messageOf = (event: { type: string }): Message => (event.type === 'xstate.init' ? startMessage : (event as Message));
  const sendAction = (send: RandomSend) => ({ context, event }: { context: Context; event: { type: string } }) => {
    const message = messageOf(event);
    sent.push({ kind: 'send', command: 'Record', data: { n: context.n, m: context.m, tag: send.tag, ...(send.withEvent ? { v: message.data!.v } : {}) } });
  };
  const assignAction = (random: RandomAssign) => assign(({ context, event }: { context: Context; event: { type: string } }) => random.js(context, messageOf(event)));
  const action = (item: RandomAction) => ('send' in item ? sendAction(item.send) : assignAction(item.assign));
  const transitions = (list: readonly RandomTransition[]) => list.map((t) => ({
    ...(t.target !== undefined ? { target: t.target } : {}),
    ...(t.when ? { guard: ({ context, event }: { context: Context; event: { type: string } }) => t.when!.js(context, messageOf(event)) } : {}),
    actions: [...(t.assign ? [assignAction(t.assign)] : []), ...(t.send ? [sendAction(t.send)] : [])],
  }));
  const states = Object.fromEntries(Object.entries(machine.states).map(([name, state]) => [name, {
    ...(state.final ? { type: 'final' as const } : {}),
    entry: state.entry.map(action),
    exit: state.exit.map(action),
    on: Object.fromEntries(Object.entries(state.on).map(([event, list]) => [event, transitions(list)])),
    ...(state.always.length ? { always: transitions(state.always) } : {}),
    ...(Object.keys(state.after).length ? { after: Object.fromEntries(Object.entries(state.after).map(([delay, list]) => [delay, transitions(list)])) } : {}),
  }]));
  // The reference is plain XState; its config is built from JavaScript closures, so its types are loose.
  const logic = createMachine({ id: 'reference', initial: 's0', context: initial, states } as unknown as Parameters<typeof createMachine>[0]);
  const clock = new SimulatedClock();
  const actor = createActor(logic, { clock }).start();
  return { actor, clock, sent };
}

// ---- driving both ----

/** An event, or time passing: every timer that falls due meanwhile fires, in due order. */
type Input = { readonly kind: 'event'; readonly type: string; readonly v: number } | { readonly kind: 'wait'; readonly ms: number };

function randomInputs(random: Random): Input[] {
  return Array.from({ length: random.int(4, 25) }, () => (random.chance(0.25) ? { kind: 'wait' as const, ms: random.pick([50, 150, 300, 500, 800]) } : { kind: 'event' as const, type: random.pick(EVENTS), v: random.int(0, 5) }));
}

/** The saga side's durable timers, as the runtime will keep them: name -> due time. */
class Timers {
  private readonly due = new Map<string, number>();
  apply(effects: readonly SagaEffect[], now: number): void {
    for (const effect of effects) {
      if (effect.kind === 'schedule') this.due.set(effect.timer, now + effect.delayMs);
      if (effect.kind === 'cancel') this.due.delete(effect.timer);
    }
  }
  /** The earliest timer due by `now`, removed as the runtime removes a fired timer's row. */
  takeDue(now: number): string | undefined {
    const [timer, at] = [...this.due].sort((a, b) => a[1] - b[1])[0] ?? [];
    if (timer === undefined || at! > now) return undefined;
    this.due.delete(timer);
    return timer;
  }
}

const sends = (effects: readonly SagaEffect[]) => effects.filter((effect) => effect.kind === 'send');

async function checkOne(seed: number): Promise<void> {
  const random = new Random(prng(seed));
  const machine = randomMachine(random);
  const definition = sagaDefinition(machine);
  const inputs = randomInputs(random);
  const n = random.int(0, 4);
  const startMessage = createEnvelope('Start', { n, v: 0 }, 'property', { id: `start-${seed}`, time: '2026-01-01T00:00:00Z' });
  const where = () => `seed ${seed}\n${JSON.stringify(definition)}\ninputs ${JSON.stringify(inputs)}`;

  const saga = createSagaMachine('Random', definition as Parameters<typeof createSagaMachine>[1], { defaults: { retry: DEFAULT_RETRY } as never });
  const reference = referenceMachine(machine, startMessage, { n, m: 0 });
  const timers = new Timers();
  let now = 0;
  let result: SagaStepResult = await start(saga, startMessage);
  timers.apply(result.effects, now);

  const compare = (label: string): void => {
    const snapshot = reference.actor.getSnapshot() as { value: unknown; context: Context; status: string };
    expect(sends(result.effects), `${label}: sends\n${where()}`).toEqual(reference.sent.splice(0));
    expect({ state: result.state, context: result.context, done: result.status === 'completed' }, `${label}\n${where()}`)
      .toEqual({ state: snapshot.value, context: snapshot.context, done: snapshot.status === 'done' });
  };
  compare('start');

  for (const [index, input] of inputs.entries()) {
    if (result.status === 'completed') break;
    const label = `input ${index} (${JSON.stringify(input)})`;
    const stored = (): PersistedSagaSnapshot => JSON.parse(JSON.stringify(result.snapshot)) as PersistedSagaSnapshot;
    if (input.kind === 'wait') {
      // XState's clock fires what falls due and starts the next state's timers from the new time: so do we.
      now += input.ms;
      const effects: SagaEffect[] = [];
      for (let timer = timers.takeDue(now); timer !== undefined && result.status !== 'completed'; timer = timers.takeDue(now)) {
        result = await step(saga, stored(), { type: TIMER_FIRED, timer });
        timers.apply(result.effects, now);
        effects.push(...result.effects);
      }
      reference.clock.increment(input.ms);
      result = { ...result, effects };
    } else {
      const message: Envelope = createEnvelope(input.type, { v: input.v }, 'property', { id: `${seed}-${index}`, time: '2026-01-01T00:00:00Z' });
      result = await step(saga, stored(), message);
      timers.apply(result.effects, now);
      reference.actor.send({ type: input.type, data: { v: input.v } });
    }
    compare(label);
  }
  reference.actor.stop();
}

describe('saga machines against plain XState (property)', () => {
  it(`agrees on states, contexts and sends for ${MACHINES} random machines and event orders`, async () => {
    for (let i = 0; i < MACHINES; i++) await checkOne(BASE_SEED + i);
  }, 120_000);

  it('the generator covers every feature it claims to', () => {
    const seen = new Set<string>();
    for (let i = 0; i < MACHINES; i++) {
      const random = new Random(prng(BASE_SEED + i));
      const machine = randomMachine(random);
      for (const state of Object.values(machine.states)) {
        if (state.final) seen.add('final');
        if (state.entry.length) seen.add('entry');
        if (state.exit.length) seen.add('exit');
        if (state.always.length) seen.add('always');
        if (Object.keys(state.after).length) seen.add('after');
        for (const t of [...Object.values(state.on).flat(), ...state.always, ...Object.values(state.after).flat()]) {
          seen.add(t.when ? 'guarded' : 'unguarded');
          if (t.target === undefined) seen.add('targetless');
          if (t.assign) seen.add('assign');
          if (t.when?.jsonata.includes('event.')) seen.add('event scope');
        }
      }
    }
    expect([...seen].sort()).toEqual(['after', 'always', 'assign', 'entry', 'event scope', 'exit', 'final', 'guarded', 'targetless', 'unguarded']);
  });
});
