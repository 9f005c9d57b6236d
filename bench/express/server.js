// The Node baseline: express + express-oauth2-jwt-bearer, set up as Auth0 documents it
// (auth({ audience, issuerBaseURL, tokenSigningAlg: 'RS256' }): OIDC discovery, then the
// JWKS, both cached by the library), in a cluster of WORKERS processes sharing one port.
//
//   node server.js PORT WORKERS      (ISSUER_BASE_URL and AUDIENCE from the environment)
//
// Bound to 127.0.0.1 only. SIGTERM to the primary stops the workers, then the primary.
'use strict';

const cluster = require('node:cluster');
const express = require('express');
const { auth } = require('express-oauth2-jwt-bearer');

const port = Number(process.argv[2] || 3000);
const workers = Number(process.argv[3] || 2);

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i += 1) cluster.fork();
  let stopping = false;
  cluster.on('exit', (worker, code) => {
    if (!stopping) {
      console.error(`worker ${worker.process.pid} exited (${code}): stopping`);
      process.exit(1); // a bench must not go on with fewer workers than it reports
    }
  });
  process.on('SIGTERM', () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
    cluster.disconnect(() => process.exit(0));
  });
} else {
  const checkJwt = auth({
    audience: process.env.AUDIENCE,
    issuerBaseURL: process.env.ISSUER_BASE_URL,
    tokenSigningAlg: 'RS256',
  });
  const app = express();
  app.get('/ping', (req, res) => {
    res.json({ message: "All good. You don't need to be authenticated to call this" });
  });
  app.get('/secured/ping', checkJwt, (req, res) => {
    res.json({ message: "All good. You only get this message if you're authenticated" });
  });
  app.listen(port, '127.0.0.1');
}
