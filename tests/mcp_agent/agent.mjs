// An agent built on the official MCP TypeScript SDK's client authorization code
// (@modelcontextprotocol/sdk/client/auth.js, pinned in package-lock.json), driven by
// tests/scopes/oauth/test_mcp_agent.py against the live server:
//   node agent.mjs <api_base> <client_metadata_url or -> <redirect_uri> <scope>
// It knows only the API's URL. It calls it bare and reads the 401's challenge
// (extractWWWAuthenticateParams), then the SDK's `auth()` discovers the protected resource metadata
// (discoverOAuthProtectedResourceMetadata) and the authorization server's
// (discoverAuthorizationServerMetadata), uses the client ID metadata document's URL as its
// client_id (the server says client_id_metadata_document_supported), or without one ("-")
// registers by RFC 7591 at the metadata's registration_endpoint (registerClient), starts the authorization
// with PKCE and `resource` (startAuthorization) and, given the callback, exchanges the code
// (exchangeAuthorization through fetchToken). Each authorization URL is printed as one JSON line;
// the browser's callback URL is read back on one line of stdin. A 403 naming a missing scope is
// answered by authorizing again for exactly that scope (with include_granted_scopes, as the
// challenge's error_description says); the results are printed on the last line.
import { auth, extractWWWAuthenticateParams } from '@modelcontextprotocol/sdk/client/auth.js';
import * as readline from 'node:readline';
import { randomUUID } from 'node:crypto';

const [apiBase, clientMetadataUrl, redirectUrl, firstScope] = process.argv.slice(2);
const input = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (line) => console.log(JSON.stringify(line));

// What a real agent keeps between runs; in memory here.
const kept = { extra: {} };
const provider = {
  get redirectUrl() { return redirectUrl; },
  get clientMetadata() {
    return {
      client_name: 'MCP SDK agent',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  },
  clientMetadataUrl: clientMetadataUrl === '-' ? undefined : clientMetadataUrl,
  state: async () => (kept.state = randomUUID()),
  clientInformation: () => kept.client,
  saveClientInformation: (client) => { kept.client = client; },
  tokens: () => kept.tokens,
  saveTokens: (tokens) => { kept.tokens = tokens; },
  saveCodeVerifier: (verifier) => { kept.verifier = verifier; },
  codeVerifier: () => kept.verifier,
  discoveryState: () => kept.discovery,
  saveDiscoveryState: (state) => { kept.discovery = state; },
  redirectToAuthorization: (url) => {
    for (const [name, value] of Object.entries(kept.extra)) url.searchParams.set(name, value);
    kept.authorizationUrl = url;
  },
};

async function call(url) {
  const headers = kept.tokens ? { Authorization: `Bearer ${kept.tokens.access_token}` } : {};
  const response = await fetch(url, { headers });
  const challenge = extractWWWAuthenticateParams(response);
  const line = {
    event: 'call', url, status: response.status,
    www_authenticate: response.headers.get('WWW-Authenticate'),
    resource_metadata: challenge.resourceMetadataUrl?.href, scope: challenge.scope, error: challenge.error,
  };
  await response.body?.cancel();
  say(line);
  return { ...line, resourceMetadataUrl: challenge.resourceMetadataUrl };
}

async function authorize(serverUrl, scope, resourceMetadataUrl) {
  const started = await auth(provider, { serverUrl, scope, resourceMetadataUrl });
  if (started !== 'REDIRECT') throw new Error(`expected to send the user to the consent page, got ${started}`);
  say({ event: 'authorize', authorization_url: kept.authorizationUrl.href, client_id: kept.client.client_id });
  const callback = new URL((await input.next()).value.trim());
  if (callback.searchParams.get('state') !== kept.state) throw new Error('state does not match');
  const iss = callback.searchParams.get('iss');
  const issuer = kept.discovery.authorizationServerMetadata.issuer;
  if (iss !== issuer) throw new Error(`iss ${iss} is not the issuer ${issuer} (RFC 9207)`);
  const code = callback.searchParams.get('code');
  if (!code) throw new Error(`no code: ${callback.searchParams.get('error')}`);
  const done = await auth(provider, { serverUrl, resourceMetadataUrl, authorizationCode: code });
  if (done !== 'AUTHORIZED') throw new Error(`expected tokens, got ${done}`);
  say({ event: 'tokens', scope: kept.tokens.scope });
}

const photos = new URL('photos/', apiBase).href;
const albums = new URL('albums/', apiBase).href;
const bare = await call(photos);
if (bare.status !== 401 || !bare.resourceMetadataUrl) throw new Error('expected a 401 naming resource_metadata');
await authorize(photos, firstScope, bare.resourceMetadataUrl);
const first = await call(photos);
const refused = await call(albums);
const granted = kept.tokens.scope;
if (refused.status === 403 && refused.error === 'insufficient_scope' && refused.scope) {
  // Incremental authorization: exactly the missing scope, keeping what was granted.
  kept.extra = { include_granted_scopes: 'true' };
  kept.tokens = undefined; // a new authorization, not a refresh
  await authorize(albums, refused.scope, refused.resourceMetadataUrl);
}
const second = await call(albums);
say({
  event: 'done',
  client_id: kept.client.client_id,
  resource_metadata: kept.discovery.resourceMetadata,
  authorization_server: kept.discovery.authorizationServerUrl,
  client_id_metadata_document_supported: kept.discovery.authorizationServerMetadata.client_id_metadata_document_supported,
  statuses: [bare.status, first.status, refused.status, second.status],
  missing_scope: refused.scope,
  first_scope: granted,
  final_scope: kept.tokens.scope,
});
process.exit(0);
