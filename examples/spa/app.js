// Cashman SPA example: plain browser JavaScript, no build step, no third-party code.
//
// What a browser client must do: send the token in the Authorization header
// (never in the URL), send JSON with Content-Type application/json, use an
// Idempotency-Key on POST so a retry cannot record the same money twice, and
// on a 401/403 read the reason from the WWW-Authenticate header (the API's
// CORS configuration exposes it). A request the browser blocks because the
// page's origin is not in CORS_ORIGINS surfaces as a network error.
//
// Two ways to hold a token: a Bearer token pasted in (or from the fragment), or
// DPoP (dpop.js): a non-extractable WebCrypto key, a token bound to it from the
// issuer's token endpoint, and a fresh proof per request.
//
// Auto-run (used by the project's browser test, handy for a quick check):
//   index.html#api=http://127.0.0.1:5000&token=eyJ...&autorun=1
//   index.html#api=http://127.0.0.1:5000&token_endpoint=http://127.0.0.1:PORT/oauth/token&autorun=1
// lists incomes, creates one, lists again, (with DPoP) replays the last request's
// proof, makes one call with a bad token, and writes a JSON summary into
// <pre id="result" data-state="done">.
"use strict";

let dpopClient = null; // set once a DPoP-bound token was obtained

const $ = (id) => document.getElementById(id);

function fragmentSettings() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  for (const name of ["api", "token", "token_endpoint", "description", "amount"]) {
    if (params.has(name)) $(name).value = params.get(name);
  }
  return { autorun: params.get("autorun") === "1" };
}

function apiBase() {
  return $("api").value.trim().replace(/\/+$/, "");
}

function newIdempotencyKey() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") {
    return window.crypto.randomUUID();
  }
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// RFC 6750 §3: Bearer realm="cashman", error="invalid_token", error_description="..."
function parseChallenge(header) {
  const attributes = {};
  if (!header) return attributes;
  const pattern = /([A-Za-z_]+)="((?:[^"\\]|\\.)*)"/g;
  let match;
  while ((match = pattern.exec(header)) !== null) {
    attributes[match[1]] = match[2].replace(/\\(.)/g, "$1");
  }
  return attributes;
}

// The last DPoP request's headers, proof included: the example sends them again to show
// that the API refuses a proof it has already seen.
let lastDPoPHeaders = null;

async function call(method, path, { body, token, headers: sent } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, mode: "cors", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    headers["Idempotency-Key"] = newIdempotencyKey();
    init.body = JSON.stringify(body);
  }
  const useDPoP = dpopClient !== null && token === undefined && sent === undefined;
  if (sent !== undefined) {
    Object.assign(headers, sent);
  } else if (!useDPoP) {
    const bearer = token === undefined ? $("token").value.trim() : token;
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
  }
  const url = apiBase() + path;
  let response;
  try {
    response = useDPoP
      ? await dpopClient.fetch(url, init, (h) => { lastDPoPHeaders = h; })
      : await fetch(url, init);
  } catch (error) {
    // the browser hides why: a CORS refusal and an unreachable server look the same
    return { ok: false, network: true, error: String(error) };
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = text;
  }
  const challenge = response.headers.get("WWW-Authenticate");
  return {
    ok: response.ok,
    status: response.status,
    data,
    location: response.headers.get("Location"),
    wwwAuthenticate: challenge,
    challenge: parseChallenge(challenge),
  };
}

function describe(result) {
  if (result.network) {
    return "Network or CORS failure: the API is unreachable, or it does not allow this " +
      `page's origin (${window.location.origin}); add it to CORS_ORIGINS.`;
  }
  if (result.ok) return `HTTP ${result.status}`;
  const code = result.data && result.data.code ? ` ${result.data.code}` : "";
  const reason = result.challenge.error
    ? ` (WWW-Authenticate: ${result.challenge.error}` +
      `${result.challenge.error_description ? `: ${result.challenge.error_description}` : ""})`
    : "";
  const description = result.data && result.data.description ? `: ${result.data.description}` : "";
  return `HTTP ${result.status}${code}${description}${reason}`;
}

function showStatus(result) {
  $("status").textContent = describe(result);
  $("status").dataset.kind = result.ok ? "ok" : "error";
  if (result.status === 401 || result.status === 403) showAuthError(result);
}

// why the API refused the token, as RFC 6750 puts it in WWW-Authenticate
function showAuthError(result) {
  $("auth-error").textContent =
    `HTTP ${result.status}, WWW-Authenticate: ${result.wwwAuthenticate || "(none)"}`;
  $("auth-error").hidden = false;
}

// amounts arrive as exact JSON numbers with two decimals; show them that way
function formatAmount(amount) {
  return typeof amount === "number" ? amount.toFixed(2) : String(amount);
}

function renderIncomes(rows) {
  const body = $("incomes");
  body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    tr.dataset.id = String(row.id);
    for (const [value, cls] of [
      [row.id, ""], [row.description, ""], [formatAmount(row.amount), "amount"],
      [row.created_at, ""],
    ]) {
      const td = document.createElement("td");
      td.textContent = String(value); // textContent: API data is never parsed as HTML
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

async function listIncomes() {
  const result = await call("GET", "/incomes?limit=100");
  showStatus(result);
  if (result.ok && Array.isArray(result.data)) renderIncomes(result.data);
  return result;
}

async function createIncome() {
  const typed = $("amount").value.trim();
  // a decimal with at most 2 places survives Number() and JSON exactly (shortest form);
  // anything else is sent as typed, and the API's 422 says what is wrong with it
  const amount = /^-?[0-9]+(\.[0-9]{1,2})?$/.test(typed) ? Number(typed) : typed;
  const result = await call("POST", "/incomes", {
    body: { description: $("description").value, amount },
  });
  showStatus(result);
  return result;
}

function summary(result) {
  const out = { status: result.network ? null : result.status, network: Boolean(result.network) };
  if (result.network) out.error = result.error;
  if (result.data && result.data.code) out.code = result.data.code;
  if (result.wwwAuthenticate) {
    out.www_authenticate = result.wwwAuthenticate;
    out.reason = result.challenge.error || null;
  }
  return out;
}

// DPoP: a non-extractable key, then a token bound to it from the token endpoint.
async function getDPoPToken() {
  const tokenUrl = $("token_endpoint").value.trim();
  const client = await DPoP.Client.create();
  const issued = await client.fetchToken(tokenUrl);
  dpopClient = client;
  $("token").value = "";
  $("status").textContent = `DPoP-bound token obtained (${issued.token_type}); key not extractable`;
  $("status").dataset.kind = "ok";
  return { client, issued };
}

async function autorun() {
  const report = { origin: window.location.origin };
  if ($("token_endpoint").value.trim()) {
    try {
      const { client, issued } = await getDPoPToken();
      report.dpop = { token_type: issued.token_type, extractable: client.privateKeyExtractable };
    } catch (error) {
      report.dpop = { error: String(error), network: error instanceof TypeError };
    }
  }
  const before = await listIncomes();
  report.list = { ...summary(before), count: Array.isArray(before.data) ? before.data.length : null };
  const created = await createIncome();
  report.create = { ...summary(created), id: created.data && created.data.id, location: created.location };
  const after = await listIncomes();
  report.list_after = { ...summary(after), count: Array.isArray(after.data) ? after.data.length : null };
  report.rows = $("incomes").rows.length;
  if (dpopClient !== null && lastDPoPHeaders !== null) {
    // the very same request again, proof included: a replay the API must refuse
    report.replay = summary(await call("GET", "/incomes?limit=100", { headers: lastDPoPHeaders }));
  }
  const refused = await call("GET", "/incomes", { token: "not-a-valid-token" });
  report.unauthorized = summary(refused);
  if (!refused.network) showAuthError(refused);
  report.auth_error_shown = $("auth-error").textContent;
  const out = $("result");
  out.textContent = JSON.stringify(report);
  out.dataset.state = "done";
  out.hidden = false;
}

$("list").addEventListener("click", () => listIncomes());
$("get-dpop-token").addEventListener("click", async () => {
  try {
    await getDPoPToken();
  } catch (error) {
    $("status").textContent = `Could not get a DPoP-bound token: ${error}`;
    $("status").dataset.kind = "error";
  }
});
$("create").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await createIncome();
  if (result.ok) await listIncomes();
});

if (fragmentSettings().autorun) autorun();
