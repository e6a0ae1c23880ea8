// An OIDC issuer on 127.0.0.1 for the gateway tests: oauth2-mock-server
// (discovery, JWKS, signing) with an RS256, an ES256 and an EdDSA key, and
// a small control API beside it so a test can mint the tokens it needs:
//
//   POST /token {"claims": {...}, "alg"?: "ES256", "expires_in"?: 60, "kid"?: "..."}
//     -> {"token": "..."}      (claims are merged over iss/iat/exp/nbf)
//   POST /keys {"alg": "RS256"} -> {"kid": "..."}   (a key added to the JWKS)
//   POST /login {"claims": {...}} -> {}   (claims of the ID tokens the
//     authorization code flow issues from now on: email, name, groups)
//
// Prints one JSON line: {"issuer": "http://127.0.0.1:<port>", "control": "http://127.0.0.1:<port>"}.
import http from 'node:http';
import { OAuth2Server } from 'oauth2-mock-server';

const server = new OAuth2Server();
const kids = {};
for (const alg of ['RS256', 'ES256', 'EdDSA']) {
  const key = await server.issuer.keys.generate(alg);
  kids[alg] = key.kid;
}
// The person who signs in through the authorization code flow.
let login = {};
server.service.on('beforeTokenSigning', (token, request) => {
  if (request.body?.grant_type === 'authorization_code') Object.assign(token.payload, login);
});
await server.start(0, '127.0.0.1');
// Named by address, not `localhost`: every call stays on 127.0.0.1.
server.issuer.url = `http://127.0.0.1:${server.address().port}`;

function readJson(request) {
  return new Promise((resolve, reject) => {
    let text = '';
    request.on('data', (chunk) => { text += chunk; });
    request.on('end', () => { try { resolve(text ? JSON.parse(text) : {}); } catch (error) { reject(error); } });
  });
}

const control = http.createServer(async (request, response) => {
  try {
    const body = await readJson(request);
    let answer;
    if (request.method === 'POST' && request.url === '/token') {
      const kid = body.kid_of_key ?? kids[body.alg ?? 'RS256'];
      const token = await server.issuer.buildToken({
        kid,
        expiresIn: body.expires_in ?? 3600,
        scopesOrTransform: (header, payload) => {
          Object.assign(payload, body.claims ?? {});
          for (const name of body.remove ?? []) delete payload[name];
          if (body.header_kid) header.kid = body.header_kid;
        },
      });
      answer = { token };
    } else if (request.method === 'POST' && request.url === '/login') {
      login = body.claims ?? {};
      answer = {};
    } else if (request.method === 'POST' && request.url === '/keys') {
      const key = await server.issuer.keys.generate(body.alg ?? 'RS256');
      answer = { kid: key.kid };
    } else {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  } catch (error) {
    response.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
  }
});
control.listen(0, '127.0.0.1', () => {
  const port = control.address().port;
  console.log(JSON.stringify({ issuer: server.issuer.url, control: `http://127.0.0.1:${port}`, kids }));
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, async () => { control.close(); await server.stop(); process.exit(0); });
}
