// DPoP for a browser app (RFC 9449), the way Auth0's SPA SDK does it: plain WebCrypto.
//
// - The key pair is ES256 (ECDSA P-256) and NON-EXTRACTABLE: script on the page can sign
//   with the private key but never read it, so a token stolen from this page (by an XSS
//   or a log) is useless elsewhere: every request needs a proof only this key can make.
// - The access token is bound to that key: the token request itself carries a proof, and
//   the issuer puts the key's RFC 7638 thumbprint in the token's cnf.jkt.
// - Every API request gets a fresh proof: htm (method), htu (URL without query and
//   fragment), iat, a random jti, and ath (the token's SHA-256), plus the server's nonce
//   when it asks for one (use_dpop_nonce with a DPoP-Nonce header: retry once with it).
"use strict";

const DPoP = (() => {
  const encoder = new TextEncoder();

  function base64url(bytes) {
    let binary = "";
    for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function randomId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return base64url(bytes);
  }

  // RFC 9449 §4.2: htu is the target URI without query and fragment
  function htuOf(url) {
    const parsed = new URL(url, window.location.href);
    return `${parsed.origin}${parsed.pathname}`;
  }

  class Client {
    // extractable: false: the private key never leaves WebCrypto
    static async create() {
      const keyPair = await crypto.subtle.generateKey(
        { name: "ECDSA", namedCurve: "P-256" },
        false,
        ["sign", "verify"],
      );
      const full = await crypto.subtle.exportKey("jwk", keyPair.publicKey); // public: always exportable
      const jwk = { kty: full.kty, crv: full.crv, x: full.x, y: full.y };
      return new Client(keyPair, jwk);
    }

    constructor(keyPair, jwk) {
      this.keyPair = keyPair;
      this.jwk = jwk;
      this.nonces = new Map(); // origin -> the last DPoP-Nonce it sent
      this.accessToken = null;
    }

    get privateKeyExtractable() {
      return this.keyPair.privateKey.extractable;
    }

    async proof(method, url, accessToken) {
      const header = { typ: "dpop+jwt", alg: "ES256", jwk: this.jwk };
      const payload = {
        jti: randomId(),
        htm: method.toUpperCase(),
        htu: htuOf(url),
        iat: Math.floor(Date.now() / 1000),
      };
      if (accessToken) {
        payload.ath = base64url(await crypto.subtle.digest("SHA-256", encoder.encode(accessToken)));
      }
      const nonce = this.nonces.get(new URL(url).origin);
      if (nonce) payload.nonce = nonce;
      const signingInput =
        `${base64url(encoder.encode(JSON.stringify(header)))}.` +
        `${base64url(encoder.encode(JSON.stringify(payload)))}`;
      // WebCrypto's ECDSA signature is r || s, exactly the JWS ES256 form (RFC 7518 §3.4)
      const signature = await crypto.subtle.sign(
        { name: "ECDSA", hash: "SHA-256" },
        this.keyPair.privateKey,
        encoder.encode(signingInput),
      );
      return `${signingInput}.${base64url(signature)}`;
    }

    remember(url, response) {
      const nonce = response.headers.get("DPoP-Nonce");
      if (nonce) this.nonces.set(new URL(url).origin, nonce);
    }

    static asksForNonce(response) {
      const challenge = response.headers.get("WWW-Authenticate") || "";
      return response.status === 401 && /error="use_dpop_nonce"/.test(challenge);
    }

    // Like Auth0's /oauth/token with a DPoP header: the token comes back bound to our key.
    async fetchToken(tokenUrl, fields = {}) {
      const response = await fetch(tokenUrl, {
        method: "POST",
        mode: "cors",
        credentials: "omit",
        headers: {
          "Content-Type": "application/x-www-form-urlencoded",
          DPoP: await this.proof("POST", tokenUrl),
        },
        body: new URLSearchParams(fields).toString(),
      });
      const data = await response.json();
      if (!response.ok) throw new Error(`token endpoint: ${data.error || response.status}`);
      this.accessToken = data.access_token;
      return data;
    }

    // fetch() with Authorization: DPoP and a fresh proof; one retry when a nonce is asked for.
    // onSent(headers) sees what was sent (the example replays it to show the refusal).
    async fetch(url, init = {}, onSent = () => {}) {
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const method = init.method || "GET";
        const headers = {
          ...(init.headers || {}),
          Authorization: `DPoP ${this.accessToken}`,
          DPoP: await this.proof(method, url, this.accessToken),
        };
        onSent(headers);
        const response = await fetch(url, { ...init, headers });
        this.remember(url, response);
        if (attempt === 0 && Client.asksForNonce(response)) continue;
        return response;
      }
      throw new Error("unreachable");
    }
  }

  return { Client };
})();
