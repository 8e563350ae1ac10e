import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticatorFromEnvironment, authorize, type Authenticate } from '../../runtime/http/auth.js';
import { createLogger } from '../../runtime/observability/logger.js';

const silent = createLogger({ level: 'silent' });
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('bearer-token verifiers from the environment', () => {
  const secret = 'a-shared-secret-of-enough-length-for-hs256';
  const key = new TextEncoder().encode(secret);
  const hs256 = (claims: Record<string, unknown>, subject = 'ann') => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(subject).setExpirationTime('5m');

  it('is absent when nothing is configured', () => {
    expect(authenticatorFromEnvironment({})).toBeUndefined();
  });

  it('verifies HS256 with EDAFLOW_JWT_SECRET: roles from the `roles` claim (array or space-separated), subject from `sub`', async () => {
    const verify = authenticatorFromEnvironment({ EDAFLOW_JWT_SECRET: secret })!;
    expect(await verify(bearer(await hs256({ roles: ['support', 'admin'] }).sign(key)))).toEqual({ subject: 'ann', roles: ['support', 'admin'] });
    expect(await verify(bearer(await hs256({ roles: 'support admin' }).sign(key)))).toEqual({ subject: 'ann', roles: ['support', 'admin'] });
    expect(await verify(bearer(await hs256({}).sign(key)))).toEqual({ subject: 'ann', roles: [] });
    // Refused: another secret, an expired token, another algorithm on the same secret, no subject, no token.
    expect(await verify(bearer(await hs256({ roles: ['support'] }).sign(new TextEncoder().encode('another-secret-of-enough-length-too'))))).toBeUndefined();
    expect(await verify(bearer(await hs256({ roles: ['support'] }).setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(key)))).toBeUndefined();
    expect(await verify(bearer(await new SignJWT({ roles: ['support'] }).setProtectedHeader({ alg: 'HS512' }).setSubject('ann').sign(key)))).toBeUndefined();
    expect(await verify(bearer(await new SignJWT({ roles: ['support'] }).setProtectedHeader({ alg: 'HS256' }).sign(key)))).toBeUndefined();
    expect(await verify({ headers: {} })).toBeUndefined();
    expect(await verify({ headers: { authorization: 'Basic YW5uOnB3' } })).toBeUndefined();
  });

  it('checks EDAFLOW_JWT_ISSUER and EDAFLOW_JWT_AUDIENCE when set', async () => {
    const verify = authenticatorFromEnvironment({ EDAFLOW_JWT_SECRET: secret, EDAFLOW_JWT_ISSUER: 'https://id.example', EDAFLOW_JWT_AUDIENCE: 'shop' })!;
    expect(await verify(bearer(await hs256({ roles: ['a'] }).setIssuer('https://id.example').setAudience('shop').sign(key)))).toEqual({ subject: 'ann', roles: ['a'] });
    expect(await verify(bearer(await hs256({ roles: ['a'] }).setIssuer('https://evil.example').setAudience('shop').sign(key)))).toBeUndefined();
    expect(await verify(bearer(await hs256({ roles: ['a'] }).setIssuer('https://id.example').sign(key)))).toBeUndefined();
  });

  describe('with EDAFLOW_JWKS_URL (keys served over HTTP, as an identity provider does)', () => {
    let server: Server;
    let url = '';
    let privateKey: CryptoKey;
    beforeAll(async () => {
      const pair = await generateKeyPair('RS256');
      privateKey = pair.privateKey as CryptoKey;
      const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
      server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('verifies tokens signed by a published key and refuses others', async () => {
      const verify = authenticatorFromEnvironment({ EDAFLOW_JWKS_URL: url })!;
      const signed = await new SignJWT({ roles: ['support'] }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('sam').setExpirationTime('5m').sign(privateKey);
      expect(await verify(bearer(signed))).toEqual({ subject: 'sam', roles: ['support'] });
      const other = (await generateKeyPair('RS256')).privateKey;
      const forged = await new SignJWT({ roles: ['support'] }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('sam').setExpirationTime('5m').sign(other);
      expect(await verify(bearer(forged))).toBeUndefined();
      expect(await verify(bearer(await hs256({ roles: ['support'] }).sign(key)))).toBeUndefined();
    });
  });
});

describe('authorize', () => {
  const fixed: Authenticate = (request) => (request.headers['x-user'] === 'ann' ? { subject: 'ann', roles: ['support'] } : undefined);

  it('leaves routes without roles open, and answers 401 / 403 / the principal on routes with roles', async () => {
    expect(await authorize({ headers: {} }, undefined, undefined, silent)).toBeUndefined();
    expect(await authorize({ headers: {} }, [], fixed, silent)).toBeUndefined();
    await expect(authorize({ headers: {} }, ['support'], undefined, silent)).rejects.toMatchObject({ code: 'EDA_UNAUTHENTICATED', status: 401, details: { reason: 'missing_token' } });
    await expect(authorize({ headers: { authorization: 'Bearer x' } }, ['support'], fixed, silent)).rejects.toMatchObject({ code: 'EDA_UNAUTHENTICATED', details: { reason: 'invalid_token' } });
    await expect(authorize({ headers: { 'x-user': 'ann' } }, ['admin'], fixed, silent)).rejects.toMatchObject({ code: 'EDA_FORBIDDEN', status: 403 });
    expect(await authorize({ headers: { 'x-user': 'ann' } }, ['admin', 'support'], fixed, silent)).toEqual({ subject: 'ann', roles: ['support'] });
  });

  it('fails closed when the verifier throws', async () => {
    const broken: Authenticate = () => {
      throw new Error('verifier bug');
    };
    await expect(authorize({ headers: { 'x-user': 'ann' } }, ['support'], broken, silent)).rejects.toMatchObject({ code: 'EDA_UNAUTHENTICATED' });
  });
});
