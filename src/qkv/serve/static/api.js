// The JSON API: errors come back as {"error": ...} and become Error(message).
export class ApiError extends Error {
  // where: for a hand calculation's bad input, {inputs: ["x"], row, col} (counted from 1)
  constructor(message, status, where) { super(message); this.status = status; this.where = where; }
}

export async function api(path, { method = "GET", body, query, signal, raw = false } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const init = { method, signal, headers: {} };
  if (body !== undefined) { init.body = typeof body === "string" ? body : JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  const r = await fetch(url, init);
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`, where;
    try { const j = await r.json(); if (j.error) message = j.error; where = j.where; } catch (e) { /* not JSON */ }
    throw new ApiError(message, r.status, where);
  }
  return raw ? r.blob() : r.json();
}
