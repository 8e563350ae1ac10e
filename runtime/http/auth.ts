import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { EdaflowError } from '../errors/index.js';
import type { Logger } from '../observability/logger.js';

/** Who sent a request, as the verifier established it. */
export interface Principal {
  readonly subject: string;
  readonly roles: readonly string[];
}

/** What a verifier sees of a request. */
export interface AuthenticationRequest {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/**
 * A verifier: the principal of a request, or undefined when it carries no valid credentials. The
 * handlers module may export one as `authenticate`; otherwise a JWT verifier is built from the
 * environment (authenticatorFromEnvironment).
 */
export type Authenticate = (request: AuthenticationRequest) => Principal | undefined | Promise<Principal | undefined>;

/**
 * A bearer-token (JWT) verifier from the environment, or undefined when none is configured:
 * EDAFLOW_JWT_SECRET verifies HS256 tokens with a shared secret; EDAFLOW_JWKS_URL verifies tokens
 * signed by the keys published there (an identity provider). EDAFLOW_JWT_ISSUER and
 * EDAFLOW_JWT_AUDIENCE, when set, must match the token's `iss` and `aud`. Roles come from the `roles`
 * claim (an array, or a space-separated string), the subject from `sub`.
 */
export function authenticatorFromEnvironment(env: NodeJS.ProcessEnv = process.env): Authenticate | undefined {
  const secret = env['EDAFLOW_JWT_SECRET'];
  const jwksUrl = env['EDAFLOW_JWKS_URL'];
  if (!secret && !jwksUrl) return undefined;
  const claims = {
    ...(env['EDAFLOW_JWT_ISSUER'] ? { issuer: env['EDAFLOW_JWT_ISSUER'] } : {}),
    ...(env['EDAFLOW_JWT_AUDIENCE'] ? { audience: env['EDAFLOW_JWT_AUDIENCE'] } : {}),
  };
  // A shared secret only ever verifies HS256: accepting another algorithm for it is the classic JWT hole.
  const verify = secret
    ? (token: string) => jwtVerify(token, new TextEncoder().encode(secret), { ...claims, algorithms: ['HS256'] })
    : (() => {
        const keys: JWTVerifyGetKey = createRemoteJWKSet(new URL(jwksUrl!));
        return (token: string) => jwtVerify(token, keys, claims);
      })();
  return async (request) => {
    const token = bearerToken(request);
    if (token === undefined) return undefined;
    try {
      return principalOf((await verify(token)).payload);
    } catch {
      return undefined;
    }
  };
}

function bearerToken(request: AuthenticationRequest): string | undefined {
  const header = request.headers['authorization'];
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}

function principalOf(payload: JWTPayload): Principal | undefined {
  if (typeof payload.sub !== 'string' || payload.sub === '') return undefined;
  const claim = payload['roles'];
  const roles = Array.isArray(claim) ? claim.filter((role): role is string => typeof role === 'string') : typeof claim === 'string' ? claim.split(/\s+/).filter(Boolean) : [];
  return { subject: payload.sub, roles };
}

/**
 * Checks a route's `roles`: a route without roles is open (the principal is undefined); otherwise the
 * request needs credentials the verifier accepts (401 otherwise) holding at least one of the roles (403).
 * A verifier that throws counts as "not authenticated": fail closed, and say why in the log.
 */
export async function authorize(
  request: AuthenticationRequest,
  roles: readonly string[] | undefined,
  authenticate: Authenticate | undefined,
  logger: Logger,
  /** Told the principal once verified, also when it then lacks the roles (so a 403 is audited with its user). */
  established: { principal?: Principal } = {},
): Promise<Principal | undefined> {
  if (!roles?.length) return undefined;
  const presented = request.headers['authorization'] !== undefined;
  let principal: Principal | undefined;
  try {
    principal = authenticate ? await authenticate(request) : undefined;
  } catch (error) {
    logger.warn({ err: error }, 'the authenticate function threw; treating the request as unauthenticated');
  }
  if (!principal) {
    throw new EdaflowError('EDA_UNAUTHENTICATED', presented ? 'the bearer token is not valid' : `this route needs a bearer token with one of the roles: ${roles.join(', ')}`, {
      details: { reason: presented ? 'invalid_token' : 'missing_token' },
    });
  }
  established.principal = principal;
  if (!roles.some((role) => principal.roles.includes(role))) {
    throw new EdaflowError('EDA_FORBIDDEN', `${principal.subject} has none of the roles this route needs: ${roles.join(', ')}`, { details: { required: [...roles] } });
  }
  return principal;
}
