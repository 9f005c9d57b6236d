// Cashman SPA example: plain browser JavaScript, no build step, no third-party code.
//
// What a browser client must do: send the token in the Authorization header
// (never in the URL), send JSON with Content-Type application/json, use an
// Idempotency-Key on POST so a retry cannot record the same money twice, and
// on a 401/403 read the reason from the WWW-Authenticate header (the API's
// CORS configuration exposes it). A request the browser blocks because the
// page's origin is not in CORS_ORIGINS surfaces as a network error.
//
// Auto-run (used by the project's browser test, handy for a quick check):
//   index.html#api=http://127.0.0.1:5000&token=eyJ...&autorun=1
// lists incomes, creates one, lists again, makes one call with a bad token,
// and writes a JSON summary into <pre id="result" data-state="done">.
"use strict";

const $ = (id) => document.getElementById(id);

function fragmentSettings() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  for (const name of ["api", "token", "description", "amount"]) {
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

async function call(method, path, { body, token } = {}) {
  const headers = { Accept: "application/json" };
  const bearer = token === undefined ? $("token").value.trim() : token;
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const init = { method, headers, mode: "cors", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    headers["Idempotency-Key"] = newIdempotencyKey();
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(apiBase() + path, init);
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

async function autorun() {
  const report = { origin: window.location.origin };
  const before = await listIncomes();
  report.list = { ...summary(before), count: Array.isArray(before.data) ? before.data.length : null };
  const created = await createIncome();
  report.create = { ...summary(created), id: created.data && created.data.id, location: created.location };
  const after = await listIncomes();
  report.list_after = { ...summary(after), count: Array.isArray(after.data) ? after.data.length : null };
  report.rows = $("incomes").rows.length;
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
$("create").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await createIncome();
  if (result.ok) await listIncomes();
});

if (fragmentSettings().autorun) autorun();
