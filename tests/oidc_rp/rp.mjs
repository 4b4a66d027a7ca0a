// A strict OpenID Connect relying party built on panva's oauth4webapi, driven by
// tests/oidc/test_relying_parties.py against the live server:
//   node rp.mjs <issuer> <client_id> <redirect_uri> <scope>
// prints {"authorization_url": ...} on one line, reads the callback URL the browser reached
// on one line of stdin, then does the code exchange (PKCE S256, nonce), checks the ID token's
// signature against the JWKS and its claims, calls userinfo, refreshes, and prints the results.
import * as oauth from 'oauth4webapi';
import * as readline from 'node:readline';

const [issuerUrl, clientId, redirectUri, scope] = process.argv.slice(2);
const issuer = new URL(issuerUrl);
const insecure = { [oauth.allowInsecureRequests]: true }; // plain http on loopback only

const as = await oauth.processDiscoveryResponse(
  issuer,
  await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }),
);
const client = { client_id: clientId, id_token_signed_response_alg: 'RS256' };
const clientAuth = oauth.None();

const codeVerifier = oauth.generateRandomCodeVerifier();
const codeChallenge = await oauth.calculatePKCECodeChallenge(codeVerifier);
const nonce = oauth.generateRandomNonce();
const state = oauth.generateRandomState();
const url = new URL(as.authorization_endpoint);
for (const [k, v] of Object.entries({
  client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope,
  code_challenge: codeChallenge, code_challenge_method: 'S256', nonce, state,
})) url.searchParams.set(k, v);
console.log(JSON.stringify({ authorization_url: url.href }));

const lines = readline.createInterface({ input: process.stdin });
const callback = new URL((await lines[Symbol.asyncIterator]().next()).value.trim());
lines.close();

const params = oauth.validateAuthResponse(as, client, callback, state);
const tokenResponse = await oauth.authorizationCodeGrantRequest(
  as, client, clientAuth, params, redirectUri, codeVerifier, insecure,
);
const tokens = await oauth.processAuthorizationCodeResponse(as, client, tokenResponse, {
  expectedNonce: nonce, requireIdToken: true,
});
await oauth.validateApplicationLevelSignature(as, tokenResponse, insecure);
const claims = oauth.getValidatedIdTokenClaims(tokens);

const userinfo = await oauth.processUserInfoResponse(
  as, client, claims.sub, await oauth.userInfoRequest(as, client, tokens.access_token, insecure),
);
const refreshResponse = await oauth.refreshTokenGrantRequest(
  as, client, clientAuth, tokens.refresh_token, insecure,
);
const refreshed = await oauth.processRefreshTokenResponse(as, client, refreshResponse);
await oauth.validateApplicationLevelSignature(as, refreshResponse, insecure);
console.log(JSON.stringify({
  id_token_claims: claims,
  userinfo,
  refreshed_scope: refreshed.scope,
  refreshed_id_token_claims: oauth.getValidatedIdTokenClaims(refreshed),
}));
