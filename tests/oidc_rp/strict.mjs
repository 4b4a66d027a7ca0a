// Strict-client checks driven by tests/oidc/test_relying_parties.py (issue 24, item 11):
//   node strict.mjs authorize <issuer> <client_id> <redirect_uri> <scope> <extra-json>
//     prints {"authorization_url": ...}, reads the callback URL the browser reached on stdin,
//     and prints what oauth4webapi's validateAuthResponse made of it: "success", the server's
//     error (an error response must pass the RFC 9207 `iss` check first), or "client_refused"
//     (the library refused the response itself: `iss` missing while the metadata advertises
//     authorization_response_iss_parameter_supported, or another issuer's `iss`).
//   node strict.mjs device <issuer> <client_id> <scope>
//     sends the device authorization request as oauth4webapi does (Content-Type
//     application/x-www-form-urlencoded;charset=UTF-8) and as plain fetch with URLSearchParams does.
import * as oauth from 'oauth4webapi';
import * as readline from 'node:readline';

const [mode, issuerUrl, clientId, ...rest] = process.argv.slice(2);
const issuer = new URL(issuerUrl);
const insecure = { [oauth.allowInsecureRequests]: true }; // plain http on loopback only
const as = await oauth.processDiscoveryResponse(
  issuer,
  await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }),
);
const client = { client_id: clientId };

if (mode === 'authorize') {
  const [redirectUri, scope, extra] = rest;
  const state = oauth.generateRandomState();
  const challenge = await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier());
  const url = new URL(as.authorization_endpoint);
  for (const [k, v] of Object.entries({
    client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope,
    code_challenge: challenge, code_challenge_method: 'S256', state, ...JSON.parse(extra || '{}'),
  })) url.searchParams.set(k, v);
  console.log(JSON.stringify({ authorization_url: url.href }));
  const lines = readline.createInterface({ input: process.stdin });
  const callback = new URL((await lines[Symbol.asyncIterator]().next()).value.trim());
  lines.close();
  try {
    oauth.validateAuthResponse(as, client, callback, state);
    console.log(JSON.stringify({ outcome: 'success' }));
  } catch (err) {
    if (err instanceof oauth.AuthorizationResponseError) {
      console.log(JSON.stringify({ outcome: 'server_error', error: err.error }));
    } else {
      console.log(JSON.stringify({ outcome: 'client_refused', message: err.message }));
    }
  }
} else if (mode === 'device') {
  const [scope] = rest;
  const response = await oauth.deviceAuthorizationRequest(
    as, client, oauth.None(), new URLSearchParams({ scope }), insecure,
  );
  const library = await oauth.processDeviceAuthorizationResponse(as, client, response);
  const plain = await fetch(as.device_authorization_endpoint, {
    method: 'POST', body: new URLSearchParams({ client_id: clientId, scope }),
  });
  console.log(JSON.stringify({
    library_user_code: library.user_code,
    fetch_status: plain.status,
    fetch_body: await plain.json(),
  }));
}
