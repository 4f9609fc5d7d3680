// Development OpenID Connect provider for sso-chat, built on the certified `oidc-provider` package.
//
// NOT FOR PRODUCTION: fixed demo accounts, in-memory storage, optional test-only endpoints.
//
//   node devidp/server.mjs [--port 0] [--host 127.0.0.1] [--redirect-uri URI]... \
//     [--post-logout-redirect-uri URI]... [--audience urn:sso-chat:api] [--access-token-ttl 600] \
//     [--id-token-ttl 600] [--backchannel-logout-uri URI] [--keys PATH] [--test-endpoints]
//
// Prints exactly one line to stdout once listening:  OP_READY {"issuer": "http://127.0.0.1:PORT"}
// Everything else goes to stderr.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as querystring from 'node:querystring';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';
// Deep import (no "exports" map; version pinned ~9.13): reuse the in-memory adapter's indexing
// with ONE store shared by every Provider instance. Since 9.x each instance otherwise gets its own
// private store, so a key rotation (new instance) would silently drop every session and grant.
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

const log = (...parts) => console.error('[devidp]', ...parts);

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'redirect-uri': { type: 'string', multiple: true },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
    audience: { type: 'string', default: 'urn:sso-chat:api' },
    'access-token-ttl': { type: 'string', default: '600' },
    'id-token-ttl': { type: 'string', default: '600' },
    'backchannel-logout-uri': { type: 'string' },
    keys: { type: 'string' },
    'test-endpoints': { type: 'boolean', default: false },
  },
  strict: true,
  allowPositionals: false,
});

function positiveInt(name, raw) {
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    log(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

const PORT = Number(args.port);
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
  log(`--port must be an integer in 0..65535, got ${JSON.stringify(args.port)}`);
  process.exit(2);
}
const HOST = args.host;
const AUDIENCE = args.audience;
const ACCESS_TOKEN_TTL = positiveInt('access-token-ttl', args['access-token-ttl']);
const ID_TOKEN_TTL = positiveInt('id-token-ttl', args['id-token-ttl']);
const REDIRECT_URIS = args['redirect-uri'] ?? [
  'http://127.0.0.1:8000/callback',
  'http://localhost:8000/callback',
];
const POST_LOGOUT_REDIRECT_URIS = args['post-logout-redirect-uri'] ?? [
  'http://127.0.0.1:8000/',
  'http://localhost:8000/',
];
const BACKCHANNEL_LOGOUT_URI = args['backchannel-logout-uri'];
const TEST_ENDPOINTS = args['test-endpoints'];
const API_SCOPES = 'chat:read chat:write';
const CLIENT_ID = 'chat-spa';

// ---------------------------------------------------------------------------------------------
// Accounts (demo only; passwords are compared here, in front of the provider)
// ---------------------------------------------------------------------------------------------

const ACCOUNTS = [
  {
    username: 'alice', password: 'alice-password', sub: 'u-alice-0001',
    name: 'Alice Anderson', email: 'alice@example.test', groups: ['staff', 'engineering'],
  },
  {
    username: 'bob', password: 'bob-password', sub: 'u-bob-0002',
    name: 'Bob Brown', email: 'bob@example.test', groups: ['staff'],
  },
  {
    username: 'carol', password: 'carol-password', sub: 'u-carol-0003',
    name: 'Carol Chen', email: 'carol@example.test', groups: [],
  },
  {
    // The dev admin: config/dev.toml names `chat-admins` in its [admin] table.
    username: 'dana', password: 'dana-password', sub: 'u-dana-0004',
    name: 'Dana Diaz', email: 'dana@example.test', groups: ['staff', 'chat-admins'],
  },
];
const BY_USERNAME = new Map(ACCOUNTS.map((a) => [a.username, a]));
const BY_SUB = new Map(ACCOUNTS.map((a) => [a.sub, a]));

function checkPassword(username, password) {
  const account = BY_USERNAME.get(String(username ?? ''));
  const given = Buffer.from(String(password ?? ''));
  const expected = Buffer.from(account ? account.password : 'x'.repeat(given.length || 1));
  const same = given.length === expected.length && crypto.timingSafeEqual(given, expected);
  return account && same ? account : undefined;
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

function newKid(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${crypto.randomBytes(4).toString('hex')}`;
}

function generateKeySet() {
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  return [
    { ...rsa.export({ format: 'jwk' }), kid: newKid('rs256'), alg: 'RS256', use: 'sig' },
    { ...ec.export({ format: 'jwk' }), kid: newKid('es256'), alg: 'ES256', use: 'sig' },
  ];
}

function loadKeys(path) {
  const parsed = JSON.parse(fs.readFileSync(path, 'utf8'));
  const keys = parsed?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new Error(`${path}: expected {"keys": [private JWKs]}`);
  }
  return keys.map((jwk, i) => {
    if (!jwk.d) throw new Error(`${path}: key #${i} is not a private key (no "d")`);
    if (!jwk.kid) throw new Error(`${path}: key #${i} has no "kid"`);
    return jwk;
  });
}

// Newest set first: oidc-provider signs with the first key that matches the algorithm.
let keySets = [args.keys ? loadKeys(args.keys) : generateKeySet()];
const currentKeys = () => keySets.flat();

// In-memory store shared by all Provider instances (key rotation swaps the instance).
class TtlStore {
  #map = new Map();

  #sweepAt = 0;

  get(key) {
    const entry = this.#map.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.#map.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key, value, options) {
    const maxAge = options?.maxAge;
    this.#map.set(key, { value, expiresAt: maxAge ? Date.now() + maxAge : undefined });
    this.#sweep();
  }

  delete(key) {
    this.#map.delete(key);
  }

  #sweep() {
    const now = Date.now();
    if (now < this.#sweepAt) return;
    this.#sweepAt = now + 60_000;
    for (const [key, entry] of this.#map) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.#map.delete(key);
    }
  }
}
const STORE = new TtlStore();
const adapterFactory = (model) => new MemoryAdapter(model, STORE);

// Fixed for the life of the process so sessions survive a key rotation (new Provider instance).
const COOKIE_KEYS = [crypto.randomBytes(32).toString('base64url')];

// ---------------------------------------------------------------------------------------------
// HTML (self-contained: no external fonts or scripts)
// ---------------------------------------------------------------------------------------------

const esc = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f4f6;margin:0;padding:40px 0}
.container{max-width:320px;margin:0 auto;background:#fff;padding:24px 32px;border-radius:6px;
box-shadow:0 2px 6px rgba(0,0,0,.15)}
h1{font-weight:400;font-size:1.5em;text-align:center}
input{display:block;width:100%;box-sizing:border-box;margin:0 0 12px;padding:8px;font-size:1em}
button{width:100%;padding:10px;font-size:1em;border:0;background:#3b6fd8;color:#fff;cursor:pointer;
margin-bottom:8px}
button.secondary{background:#888}
.error{color:#b00020;background:#fdecee;padding:8px;border-radius:4px}
.hint{color:#666;font-size:.85em}
</style>
</head>
<body><div class="container"><h1>${esc(title)}</h1>
${body}
</div></body>
</html>`;
}

function loginPage(uid, { error, login } = {}) {
  const submit = `/interaction/${encodeURIComponent(uid)}`;
  return page('Sign-in', `${error ? `<p class="error" role="alert">${esc(error)}</p>\n` : ''}\
<form autocomplete="off" action="${esc(submit)}" method="post">
  <input type="hidden" name="prompt" value="login"/>
  <input required type="text" name="login" placeholder="Username" aria-label="Username" \
value="${esc(login)}"${login ? '' : ' autofocus="on"'}>
  <input required type="password" name="password" placeholder="Password" aria-label="Password"\
${login ? ' autofocus="on"' : ''}>
  <button type="submit" class="login login-submit">Sign-in</button>
</form>
<p class="hint">Dev accounts: alice, bob, carol, dana (admin) (password: &lt;name&gt;-password)</p>
<form action="${esc(submit)}/abort" method="get"><button class="secondary" type="submit">Cancel</button></form>`);
}

function consentPage(uid, params) {
  const submit = `/interaction/${encodeURIComponent(uid)}`;
  return page('Authorize', `<p>The application <strong>${esc(params.client_id)}</strong> asks for:
<code>${esc(params.scope)}</code></p>
<form autocomplete="off" action="${esc(submit)}" method="post">
  <input type="hidden" name="prompt" value="consent"/>
  <button autofocus type="submit" class="login login-submit">Continue</button>
</form>
<form action="${esc(submit)}/abort" method="get"><button class="secondary" type="submit">Cancel</button></form>`);
}

// ---------------------------------------------------------------------------------------------
// Interactions (replace devInteractions: they check no password)
// ---------------------------------------------------------------------------------------------

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return querystring.parse(Buffer.concat(chunks).toString('utf8'));
}

function noStore(ctx) {
  ctx.set('cache-control', 'no-store');
}

const interactionMiddleware = (provider) => async function devidpInteractions(ctx, next) {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)(\/abort)?$/.exec(ctx.path);
  if (!match) return next();
  const [, uid, abort] = match;
  noStore(ctx);

  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = page('Sign-in expired', `<p class="error">${esc(err.message)}</p>
<p>Go back to the application and start again.</p>`);
    return undefined;
  }
  if (details.uid !== uid) {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = page('Sign-in', '<p class="error">interaction mismatch</p>');
    return undefined;
  }

  if (abort) {
    if (ctx.method !== 'GET') return next();
    return provider.interactionFinished(ctx.req, ctx.res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }

  const { prompt, params, session, grantId } = details;

  if (ctx.method === 'GET') {
    ctx.type = 'html';
    if (prompt.name === 'login') {
      ctx.body = loginPage(uid, { login: params.login_hint });
    } else if (prompt.name === 'consent') {
      ctx.body = consentPage(uid, params);
    } else {
      ctx.status = 501;
      ctx.body = page('Error', `<p class="error">prompt ${esc(prompt.name)} not implemented</p>`);
    }
    return undefined;
  }

  if (ctx.method !== 'POST') return next();
  const form = await readForm(ctx.req);

  if (form.prompt === 'login' && prompt.name === 'login') {
    const account = checkPassword(form.login, form.password);
    if (!account) {
      log(`login failed for ${JSON.stringify(String(form.login ?? ''))}`);
      ctx.status = 200;
      ctx.type = 'html';
      ctx.body = loginPage(uid, {
        error: 'Invalid username or password.', login: String(form.login ?? ''),
      });
      return undefined;
    }
    log(`login ok: ${account.username} (${account.sub})`);
    return provider.interactionFinished(ctx.req, ctx.res, {
      login: { accountId: account.sub, amr: ['pwd'] },
    }, { mergeWithLastSubmission: false });
  }

  if (form.prompt === 'consent' && prompt.name === 'consent') {
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { details: missing } = prompt;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    return provider.interactionFinished(ctx.req, ctx.res, {
      consent: { grantId: await grant.save() },
    }, { mergeWithLastSubmission: true });
  }

  ctx.status = 400;
  ctx.type = 'html';
  ctx.body = page('Error', `<p class="error">unexpected form for prompt ${esc(prompt.name)}</p>`);
  return undefined;
};

// ---------------------------------------------------------------------------------------------
// Provider
// ---------------------------------------------------------------------------------------------

function clientMetadata() {
  const client = {
    client_id: CLIENT_ID,
    client_name: 'SSO Chat',
    application_type: 'web',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: REDIRECT_URIS,
    post_logout_redirect_uris: POST_LOGOUT_REDIRECT_URIS,
    id_token_signed_response_alg: 'RS256',
    // No `scope` here: API scopes are not in the `scopes` config and would be rejected.
  };
  if (BACKCHANNEL_LOGOUT_URI) {
    client.backchannel_logout_uri = BACKCHANNEL_LOGOUT_URI;
    client.backchannel_logout_session_required = true;
  }
  return client;
}

function makeProvider(issuer, keys) {
  const provider = new Provider(issuer, {
    adapter: adapterFactory,
    clients: [clientMetadata()],
    jwks: { keys },
    cookies: { keys: COOKIE_KEYS },

    async findAccount(_ctx, sub) {
      const account = BY_SUB.get(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            name: account.name,
            email: account.email,
            email_verified: true,
            groups: [...account.groups],
          };
        },
      };
    },

    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    claims: {
      acr: null,
      auth_time: null,
      iss: null,
      sid: null,
      // `groups` rides along with `openid` so the ID token always carries it.
      openid: ['sub', 'groups'],
      profile: ['name'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    conformIdTokenClaims: false,

    responseTypes: ['code'],
    pkce: { required: () => true },

    ttl: {
      AccessToken: ACCESS_TOKEN_TTL,
      IdToken: ID_TOKEN_TTL,
      AuthorizationCode: 60,
      RefreshToken: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
      Interaction: 3600,
    },
    rotateRefreshToken: true,

    // First-party client: grant whatever it asks for, so login is the only interactive step
    // (prompt=consent still shows one "Continue" page, as the spec requires).
    async loadExistingGrant(ctx) {
      const { provider: op, client, session } = ctx.oidc;
      const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
      let grant = grantId ? await op.Grant.find(grantId) : undefined;
      if (!grant) {
        grant = new op.Grant({ clientId: client.clientId, accountId: session.accountId });
      }
      if (client.clientId === CLIENT_ID) {
        const oidcScopes = [...ctx.oidc.requestParamOIDCScopes];
        if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
        const claims = ctx.oidc.requestParamClaims ? [...ctx.oidc.requestParamClaims] : [];
        if (claims.length) grant.addOIDCClaims(claims);
        for (const [indicator, rs] of Object.entries(ctx.oidc.resourceServers ?? {})) {
          const wanted = [...ctx.oidc.requestParamScopes].filter((s) => rs.scopes.has(s));
          if (wanted.length) grant.addResourceScope(indicator, wanted.join(' '));
        }
      }
      await grant.save();
      return grant;
    },

    async extraTokenClaims(_ctx, token) {
      if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
      const account = BY_SUB.get(token.accountId);
      if (!account) return undefined;
      const extra = { name: account.name, groups: [...account.groups] };
      if (token.sid) extra.sid = token.sid;
      return extra;
    },

    clientBasedCORS(_ctx, origin, client) {
      if (origin === 'null') return false;
      return [...client.redirectUris, ...(client.postLogoutRedirectUris ?? [])]
        .some((uri) => URL.parse(uri)?.origin === origin);
    },

    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = page('Sign out', `<p>Do you want to sign out from ${esc(ctx.host)}?</p>
${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button class="secondary" type="submit" form="op.logoutForm">No, stay signed in</button>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = page('Signed out', '<p>You have been signed out.</p>');
        },
      },
      backchannelLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo(_ctx, resourceIndicator) {
          if (resourceIndicator !== AUDIENCE) {
            throw new Provider.errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
          }
          return {
            scope: API_SCOPES,
            audience: AUDIENCE,
            accessTokenFormat: 'jwt',
            accessTokenTTL: ACCESS_TOKEN_TTL,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },

    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', Object.entries(out)
        .map(([k, v]) => `<pre><strong>${esc(k)}</strong>: ${esc(v)}</pre>`).join('\n'));
    },

    // The built-in SSRF guard refuses 127.0.0.0/8; loopback back-channel receivers are the point here.
    fetch: (url, options) => {
      // eslint-disable-next-line no-param-reassign
      delete options.dispatcher;
      return fetch(url, options);
    },
  });

  provider.on('server_error', (_ctx, err) => log('server_error:', err?.stack ?? err, err?.cause ?? ''));
  provider.on('backchannel.error', (_ctx, err, client, accountId, sid) => {
    log(`backchannel.error client=${client?.clientId} sub=${accountId} sid=${sid}:`, err?.message ?? err);
  });
  provider.on('backchannel.success', (_ctx, client, accountId, sid) => {
    log(`backchannel.success client=${client?.clientId} sub=${accountId} sid=${sid}`);
  });
  provider.use(interactionMiddleware(provider));
  return { provider, callback: provider.callback() };
}

// ---------------------------------------------------------------------------------------------
// HTTP server: test-only routes in front of the (swappable) provider instance
// ---------------------------------------------------------------------------------------------

let current; // { provider, callback }
let ISSUER;

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

function handleTestRoute(req, res, pathname) {
  if (pathname === '/__test/rotate-keys' && req.method === 'POST') {
    keySets = [generateKeySet(), ...keySets];
    current = makeProvider(ISSUER, currentKeys());
    log('rotated keys:', currentKeys().map((k) => k.kid).join(', '));
    sendJson(res, 200, { kids: currentKeys().map((k) => k.kid) });
    return true;
  }
  if (pathname === '/__test/drop-old-keys' && req.method === 'POST') {
    keySets = [keySets[0]];
    current = makeProvider(ISSUER, currentKeys());
    log('dropped old keys; now:', currentKeys().map((k) => k.kid).join(', '));
    sendJson(res, 200, { kids: currentKeys().map((k) => k.kid) });
    return true;
  }
  if (pathname === '/__test/keys' && req.method === 'GET') {
    sendJson(res, 200, { keys: currentKeys() });
    return true;
  }
  return false;
}

const server = http.createServer((req, res) => {
  const pathname = (req.url ?? '/').split('?', 1)[0];
  if (TEST_ENDPOINTS && pathname.startsWith('/__test/')) {
    try {
      if (handleTestRoute(req, res, pathname)) return;
    } catch (err) {
      log('test route error:', err?.stack ?? err);
      sendJson(res, 500, { error: String(err?.message ?? err) });
      return;
    }
  }
  current.callback(req, res);
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  ISSUER = `http://${HOST.includes(':') ? `[${HOST}]` : HOST}:${port}`;
  try {
    current = makeProvider(ISSUER, currentKeys());
  } catch (err) {
    log('failed to configure the provider:', err?.stack ?? err);
    process.exit(1);
  }
  log(`listening on ${ISSUER} (client ${CLIENT_ID}, audience ${AUDIENCE}, `
    + `redirect_uris ${REDIRECT_URIS.join(' ')}, test endpoints ${TEST_ENDPOINTS ? 'ON' : 'off'})`);
  process.stdout.write(`OP_READY {"issuer": ${JSON.stringify(ISSUER)}}\n`);
});

server.on('error', (err) => {
  log('server error:', err?.stack ?? err);
  process.exit(1);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
