// A small GitHub stand-in reproducing the quirks a client must handle:
//   * POST /login/oauth/access_token answers form-encoded unless `Accept: application/json`;
//   * its errors (a bad code, a wrong PKCE verifier, a wrong secret) are HTTP 200 {"error": ...};
//   * GET /user has a numeric `id` (the stable key; `login` can change);
//   * GET /user/emails lists addresses with their own `verified` flag — a primary address can be
//     unverified (logins starting with "unverified").
// Test controls: POST /__control {"mode": "ok" | "down" | "slow"} — down answers 503 to
// everything else, slow holds every answer for 60 s.
import crypto from 'node:crypto';
import http from 'node:http';

import { emailOf, numericId } from './ids.mjs';

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export async function startGithub({ port, clientId, clientSecret, redirectUri }) {
  const codes = new Map();
  const tokens = new Map();
  let mode = 'ok';

  async function body(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString();
    if ((req.headers['content-type'] || '').startsWith('application/json')) return raw ? JSON.parse(raw) : {};
    return Object.fromEntries(new URLSearchParams(raw));
  }

  function tokenAnswer(req, res, fields) {
    if ((req.headers.accept || '').includes('application/json')) {
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.end(JSON.stringify(fields));
    } else {
      res.setHeader('content-type', 'application/x-www-form-urlencoded; charset=utf-8');
      res.end(new URLSearchParams(fields).toString());
    }
  }

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, `http://127.0.0.1:${port}`);
    try {
      if (url.pathname === '/__control' && req.method === 'POST') {
        mode = (await body(req)).mode || 'ok';
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ mode }));
        return;
      }
      if (mode === 'down') {
        res.statusCode = 503;
        res.end('unavailable');
        return;
      }
      if (mode === 'slow') await new Promise((r) => setTimeout(r, 60_000));

      if (url.pathname === '/login/oauth/authorize' && req.method === 'GET') {
        const q = url.searchParams;
        if (q.get('client_id') !== clientId || q.get('redirect_uri') !== redirectUri) {
          res.statusCode = 400;
          res.end('The redirect_uri is not associated with this application.');
          return;
        }
        const hidden = ['state', 'code_challenge', 'code_challenge_method', 'redirect_uri']
          .map((k) => `<input type="hidden" name="${k}" value="${esc(q.get(k) || '')}">`).join('');
        res.setHeader('content-type', 'text/html; charset=utf-8');
        res.end(`<!doctype html><title>Sign in to GitHub (local)</title><h1>Sign in to GitHub (local stand-in)</h1>
<form method="post" action="/login/oauth/authorize">${hidden}
<input name="login" placeholder="Username" required autofocus> <input name="password" type="password" placeholder="Password" required>
<button type="submit">Sign in</button></form>`);
        return;
      }
      if (url.pathname === '/login/oauth/authorize' && req.method === 'POST') {
        const f = await body(req);
        const code = crypto.randomBytes(10).toString('hex');
        codes.set(code, { login: f.login, challenge: f.code_challenge, method: f.code_challenge_method, redirectUri: f.redirect_uri, exp: Date.now() + 600_000 });
        const back = new URL(f.redirect_uri);
        back.searchParams.set('code', code);
        if (f.state) back.searchParams.set('state', f.state);
        res.statusCode = 302;
        res.setHeader('location', back.toString());
        res.end();
        return;
      }
      if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
        const f = await body(req);
        if (f.client_id !== clientId || f.client_secret !== clientSecret) {
          tokenAnswer(req, res, { error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.' });
          return;
        }
        const c = codes.get(f.code);
        codes.delete(f.code);
        if (!c || c.exp < Date.now() || (f.redirect_uri && f.redirect_uri !== c.redirectUri)) {
          tokenAnswer(req, res, { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' });
          return;
        }
        if (c.challenge) {
          const computed = crypto.createHash('sha256').update(f.code_verifier || '').digest('base64url');
          if (c.method !== 'S256' || computed !== c.challenge) {
            tokenAnswer(req, res, { error: 'invalid_grant', error_description: 'The code_verifier does not match the code_challenge.' });
            return;
          }
        }
        const token = 'gho_' + crypto.randomBytes(18).toString('hex');
        tokens.set(token, c.login);
        tokenAnswer(req, res, { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' });
        return;
      }
      if (url.pathname === '/user' || url.pathname === '/user/emails') {
        const m = /^(?:Bearer|token) (.+)$/.exec(req.headers.authorization || '');
        const login = m && tokens.get(m[1]);
        res.setHeader('content-type', 'application/json; charset=utf-8');
        if (!login) {
          res.statusCode = 401;
          res.end(JSON.stringify({ message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' }));
          return;
        }
        const email = emailOf(login, 'github.test');
        if (url.pathname === '/user') {
          res.end(JSON.stringify({ login, id: numericId(login), name: login, email: null }));
        } else {
          res.end(JSON.stringify([
            // A verified secondary address must not stand in for an unverified primary one.
            { email: `${login.toLowerCase()}.other@github.test`, primary: false, verified: true, visibility: null },
            { email, primary: true, verified: !login.startsWith('unverified'), visibility: 'private' },
          ]));
        }
        return;
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ message: 'Not Found' }));
    } catch (e) {
      res.statusCode = 500;
      res.end(String(e));
    }
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  return `http://127.0.0.1:${port}`;
}
