import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { deterministicId } from '../envelope/index.js';
import { EdaflowError } from '../errors/index.js';
import type { Database } from '../store/database.js';
import { errorResponse, type HttpResponse } from './server.js';

/** How long a claimed key stays locked when its process dies before answering; then a retry may take it. */
const DEFAULT_LOCK_MS = 60_000;
/** Expired keys are swept at most this often (on a claim), so the table stays small without a timer. */
const SWEEP_INTERVAL_MS = 60_000;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
export const REPLAYED_HEADER = 'idempotent-replayed';

interface StoredResponse {
  readonly status: number;
  readonly body: unknown;
}

export type IdempotencyClaim =
  | { readonly kind: 'claimed'; complete(response: StoredResponse): Promise<void>; release(): Promise<void> }
  | { readonly kind: 'replay'; readonly response: StoredResponse };

/**
 * `Idempotency-Key` records in the database (migration 004-http), as Stripe keeps them: the first
 * request with a key claims it with its fingerprint; the same key with the same fingerprint replays the
 * first response; with another fingerprint it is refused (422); while the first is still running, 409.
 * Keys are scoped per caller (the token's subject), so two callers never see each other's responses.
 */
export class IdempotencyStore {
  private lastSweep = 0;

  constructor(
    private readonly database: Database,
    private readonly options: { readonly ttlMs: number; readonly lockMs?: number },
  ) {}

  async claim(scope: string, key: string, fingerprint: string): Promise<IdempotencyClaim> {
    await this.sweep();
    // A row that expired, or whose holder died while running the same request, may be taken over.
    for (let attempt = 0; attempt < 3; attempt++) {
      const claimed = await this.database.query(
        `insert into edaflow_http_idempotency (scope, key, fingerprint, locked_until, expires_at)
         values ($1, $2, $3, now() + $4::double precision * interval '1 millisecond', now() + $5::double precision * interval '1 millisecond')
         on conflict (scope, key) do update
           set fingerprint = excluded.fingerprint, locked_until = excluded.locked_until, expires_at = excluded.expires_at,
               status = null, response_body = null, created_at = now()
           where edaflow_http_idempotency.expires_at < now()
              or (edaflow_http_idempotency.status is null and edaflow_http_idempotency.locked_until < now()
                  and edaflow_http_idempotency.fingerprint = excluded.fingerprint)
         returning key`,
        [scope, key, fingerprint, this.options.lockMs ?? DEFAULT_LOCK_MS, this.options.ttlMs],
      );
      if (claimed.rows.length) return this.claimed(scope, key, fingerprint);
      const { rows } = await this.database.query<{ fingerprint: string; status: number | null; response_body: string | null }>(
        'select fingerprint, status, response_body from edaflow_http_idempotency where scope = $1 and key = $2',
        [scope, key],
      );
      const existing = rows[0];
      if (!existing) continue; // swept between the two statements: claim again
      if (existing.fingerprint !== fingerprint) {
        throw new EdaflowError('EDA_IDEMPOTENCY_MISMATCH', `Idempotency-Key "${key}" was first used with a different request; use a new key for a new request`);
      }
      if (existing.status === null) throw new EdaflowError('EDA_IDEMPOTENCY_BUSY', `a request with Idempotency-Key "${key}" is still in progress; retry later`);
      return { kind: 'replay', response: { status: existing.status, body: JSON.parse(existing.response_body ?? 'null') as unknown } };
    }
    throw new EdaflowError('EDA_IDEMPOTENCY_BUSY', `Idempotency-Key "${key}" is contended; retry later`);
  }

  private claimed(scope: string, key: string, fingerprint: string): IdempotencyClaim {
    const mine = 'scope = $1 and key = $2 and fingerprint = $3 and status is null';
    return {
      kind: 'claimed',
      complete: async (response) => {
        await this.database.query(`update edaflow_http_idempotency set status = $4, response_body = $5, locked_until = null where ${mine}`, [scope, key, fingerprint, response.status, JSON.stringify(response.body)]);
      },
      release: async () => {
        await this.database.query(`delete from edaflow_http_idempotency where ${mine}`, [scope, key, fingerprint]);
      },
    };
  }

  private async sweep(): Promise<void> {
    if (Date.now() - this.lastSweep < SWEEP_INTERVAL_MS) return;
    this.lastSweep = Date.now();
    await this.database.query('delete from edaflow_http_idempotency where expires_at < now()');
  }
}

/** What identifies "the same request": method, path with query string, and the body (key order ignored). */
export function requestFingerprint(request: Pick<FastifyRequest, 'method' | 'url' | 'body'>): string {
  return createHash('sha256').update(`${request.method} ${request.url}\n${canonicalJson(request.body ?? null)}`).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, item]) => `${JSON.stringify(name)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The Idempotency-Key header, when sent: 1–255 printable ASCII characters (a UUID is typical). */
export function idempotencyKeyOf(request: Pick<FastifyRequest, 'headers'>): string | undefined {
  const header = request.headers['idempotency-key'];
  if (header === undefined) return undefined;
  if (typeof header !== 'string' || !KEY_PATTERN.test(header)) {
    throw new EdaflowError('EDA_REQUEST_INVALID', 'the Idempotency-Key header must be one value of 1 to 255 printable ASCII characters');
  }
  return header;
}

export interface Answered {
  readonly response: HttpResponse;
  /** True when the response is the stored first response to the same key. */
  readonly replayed: boolean;
}

/**
 * Runs `work` once per Idempotency-Key. Without a key it simply runs. With one, every answer below 500
 * (success, validation error, rejection) is stored and replayed; a 5xx is not, so a retry runs again.
 * Errors of `work` become responses here (through the one error mapping) so they can be stored.
 *
 * `work` gets the id of the message a keyed request sends (unless the body names one): a function of
 * the caller and the key. The answer is recorded after the work commits; when the process dies in
 * between, a retry takes the key over once its lock lapses and runs `work` again, with the same id: the
 * aggregate recognises a command it has executed, consumers drop a message id they have handled.
 */
export async function answerIdempotently(
  store: IdempotencyStore | undefined,
  request: FastifyRequest,
  scope: string,
  work: (keyedMessageId: string | undefined) => Promise<HttpResponse>,
): Promise<Answered> {
  const key = idempotencyKeyOf(request);
  if (key === undefined || store === undefined) return { response: await work(undefined), replayed: false };
  const claim = await store.claim(scope, key, requestFingerprint(request));
  if (claim.kind === 'replay') return { response: { status: claim.response.status, headers: { [REPLAYED_HEADER]: 'true' }, body: claim.response.body }, replayed: true };
  let response: HttpResponse;
  try {
    response = await work(deterministicId('idempotency-key', scope, key));
  } catch (error) {
    response = errorResponse(error);
    if (response.status >= 500) {
      await claim.release().catch(() => undefined);
      throw error;
    }
  }
  await claim.complete({ status: response.status, body: response.body });
  return { response, replayed: false };
}
