/**
 * The saga the crash test runs: three activity steps (the first two compensable), the third failing
 * or outliving its 2 s timeout for some instances, so instances complete, compensate after a failure, and
 * compensate after a durable timeout.
 */
export const CRASH_YAML = `
edaflow: 1
topics: { crash: { partitions: 3, key: data.key } }
events:
  CrashStarted:
    topic: crash
    versions: { 1: { schema: { type: object, required: [key, mode], properties: { key: { type: string }, mode: { enum: [ok, fail, slow] } } } } }
sagas:
  Crash:
    startedBy: CrashStarted
    correlate: { CrashStarted: data.key }
    context: { key: "{% data.key %}", mode: "{% data.mode %}" }
    steps:
      - name: first
        invoke: sideEffect
        retry: { attempts: 10, backoff: fixed, delay: 50ms }
        compensate: { invoke: undoEffect }
      - name: second
        invoke: sideEffect
        retry: { attempts: 10, backoff: fixed, delay: 50ms }
        compensate: { invoke: undoEffect }
      - name: third
        invoke: maybeFail
        timeout: 2s
        retry: { attempts: 1 }
`;
