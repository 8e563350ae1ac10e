import type { Migration } from './migration.js';

/**
 * The HTTP API's `Idempotency-Key` records (runtime/http/idempotency.ts), as Stripe keeps them: per
 * caller scope and key, the fingerprint of the first request (method, path and body), and once it
 * finished its status and response body. `locked_until` lets a request whose process died be retried;
 * `expires_at` is when the key may be reused for anything (defaults.idempotency.ttl).
 */
export const migration: Migration = {
  id: '004-http',
  statements: [
    `create table if not exists edaflow_http_idempotency (
      scope text not null,
      key text not null,
      fingerprint text not null,
      status integer,
      response_body text,
      locked_until timestamptz,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      primary key (scope, key)
    )`,
    `create index if not exists edaflow_http_idempotency_expiry on edaflow_http_idempotency (expires_at)`,
  ],
};
