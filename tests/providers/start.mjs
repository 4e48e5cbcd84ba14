// Local identity providers for tests and `scripts/run.sh`, in one Node process:
//   * a Google-like and a Kakao-like OpenID provider, each its own instance of the
//     OpenID-certified `oidc-provider` (own issuer, port and signing key); the Kakao-like one
//     also answers kapi's `GET /v2/user/me` (numeric `id`, `kakao_account.is_email_verified`);
//   * a GitHub stand-in (github.mjs) reproducing GitHub's OAuth quirks.
// Sign in with any login and any password. A login starting with "unverified" gets an e-mail
// address the provider does not vouch for. The e-mail is the login if it has an "@", else
// <login>@<provider>.test.
//
// Usage: node tests/providers/start.mjs --google-port N --kakao-port N --github-port N \
//          --public-url http://127.0.0.1:8787 --client-id ID --client-secret SECRET
// Prints one JSON line ({"google": issuer, ...}) once all three listen.
import crypto from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair } from 'jose';

import { startGithub } from './github.mjs';
import { emailOf, numericId } from './ids.mjs';

const { values: args } = parseArgs({
  options: {
    'google-port': { type: 'string' },
    'kakao-port': { type: 'string' },
    'github-port': { type: 'string' },
    'public-url': { type: 'string' },
    'client-id': { type: 'string', default: 'edge-auth-local' },
    'client-secret': { type: 'string' },
  },
});
for (const k of ['google-port', 'kakao-port', 'github-port', 'public-url', 'client-secret']) {
  if (!args[k]) {
    console.error(`missing --${k}`);
    process.exit(2);
  }
}

async function oidc(name, port, { numericSubjects }) {
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: `${name}-${crypto.randomBytes(4).toString('hex')}`, alg: 'RS256', use: 'sig' };
  const domain = `${name}.test`;
  // The account id is the subject: the login itself, or (Kakao) a number as Kakao's user ids are.
  const logins = new Map();
  const accountIdOf = (login) => (numericSubjects ? String(numericId(login)) : login);
  const loginOf = (accountId) => logins.get(accountId) ?? accountId;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: args['client-id'],
      client_secret: args['client-secret'],
      redirect_uris: [`${args['public-url']}/auth/oauth/${name}/callback`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    // Like Google: e-mail claims in the id_token itself.
    conformIdTokenClaims: false,
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    pkce: { required: () => true },
    // Our own small login page (below) instead of the development one, so the account id can
    // be chosen (numeric for Kakao).
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      const login = loginOf(id);
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            email: emailOf(login, domain),
            email_verified: !login.startsWith('unverified'),
            name: login,
          };
        },
      };
    },
    // No consent screen: the grant is given with the first sign-in (a local stand-in).
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid email profile');
      grant.addOIDCClaims(['email', 'email_verified', 'name']);
      await grant.save();
      return grant;
    },
  });
  provider.on('server_error', (ctx, err) => console.error(`${name}: ${err.stack || err}`));
  const handler = provider.callback();
  const title = name === 'google' ? 'Google (local)' : 'Kakao (local)';
  const server = http.createServer(async (req, res) => {
    const path = req.url.split('?')[0];
    const m = /^\/interaction\/([\w-]+)(\/login)?$/.exec(path);
    if (m) {
      try {
        if (req.method === 'POST' && m[2]) {
          const chunks = [];
          for await (const c of req) chunks.push(c);
          const form = new URLSearchParams(Buffer.concat(chunks).toString());
          const login = (form.get('login') || '').trim();
          if (!login) throw new Error('login required');
          const accountId = accountIdOf(login);
          logins.set(accountId, login);
          await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
          return;
        }
        const details = await provider.interactionDetails(req, res);
        res.setHeader('content-type', 'text/html; charset=utf-8');
        res.end(`<!doctype html><title>Sign in · ${title}</title><h1>Sign in to ${title}</h1>
<p>Client: ${details.params.client_id}</p>
<form method="post" action="/interaction/${details.uid}/login" autocomplete="off">
<input name="login" placeholder="Any login" required autofocus> <input name="password" type="password" placeholder="Any password" required>
<button type="submit">Sign in</button></form>`);
      } catch (e) {
        res.statusCode = 400;
        res.end(String(e));
      }
      return;
    }
    if (numericSubjects && req.url.split('?')[0] === '/v2/user/me') {
      // kapi: the profile behind an access token.
      const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
      const token = m && (await provider.AccessToken.find(m[1]));
      res.setHeader('content-type', 'application/json;charset=UTF-8');
      if (!token) {
        res.statusCode = 401;
        res.end(JSON.stringify({ msg: 'this access token does not exist', code: -401 }));
        return;
      }
      const login = loginOf(token.accountId);
      res.end(JSON.stringify({
        id: Number(token.accountId),
        connected_at: new Date().toISOString(),
        kakao_account: {
          has_email: true,
          email_needs_agreement: false,
          is_email_valid: true,
          is_email_verified: !login.startsWith('unverified'),
          email: emailOf(login, domain),
        },
      }));
      return;
    }
    handler(req, res);
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return issuer;
}

const google = await oidc('google', Number(args['google-port']), { numericSubjects: false });
const kakao = await oidc('kakao', Number(args['kakao-port']), { numericSubjects: true });
const github = await startGithub({
  port: Number(args['github-port']),
  clientId: args['client-id'],
  clientSecret: args['client-secret'],
  redirectUri: `${args['public-url']}/auth/oauth/github/callback`,
});
console.log(JSON.stringify({ google, kakao, github }));
