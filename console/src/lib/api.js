// The public API, called as any client calls it: same origin, the bearer token, Webex errors.
import { currentToken } from "./session.js";

const BILLING = "../v1/wholesale/billing/";
const WHOLESALE = "../v1/wholesale/";

export class ApiError extends Error {
  constructor(status, body) {
    const message = body?.message || `HTTP ${status}`;
    super(message);
    this.status = status;
    this.descriptions = (body?.errors || []).map((error) => error?.description).filter(Boolean);
    this.trackingId = body?.trackingId || "";
  }
}

/** A URL of the API (relative to the page's <base>, which points at this deployment's /console/). */
export function apiUrl(path, params) {
  const root = path.startsWith("subPartners") ? WHOLESALE : BILLING;
  const url = new URL(root + path, document.baseURI);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  return url;
}

async function call(method, url, { body, accept = "application/json" } = {}) {
  const headers = { Authorization: `Bearer ${currentToken()}`, Accept: accept };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
  });
  if (response.status === 204) return { response, data: null };
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) throw new ApiError(response.status, data && typeof data === "object" ? data : null);
  return { response, data };
}

export const api = {
  get: async (path, params, options) => (await call("GET", apiUrl(path, params), options)).data,
  post: async (path, body) => (await call("POST", apiUrl(path), { body })).data,
  del: async (path) => (await call("DELETE", apiUrl(path))).data,
};

/** Every item of a list that pages with an RFC 5988 Link header (at most `limit` pages). */
export async function allPages(path, params, limit = 50) {
  const items = [];
  let next = apiUrl(path, params);
  for (let page = 0; next && page < limit; page += 1) {
    const { response, data } = await call("GET", next);
    items.push(...(data?.items || []));
    const link = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get("Link") || "");
    next = link ? new URL(link[1], next) : null;
  }
  return items;
}

/** Every item of a list that pages with offset/max (the usage API). */
export async function allOffsetPages(path, params, max = 500, limit = 50) {
  const items = [];
  let first = null;
  for (let page = 0; page < limit; page += 1) {
    const data = await api.get(path, { ...params, offset: page * max, max });
    first = first || data;
    items.push(...(data?.items || []));
    if (!data?.items || data.items.length < max) break;
  }
  return { ...(first || {}), items };
}

/** A report's or a query's error as one line for the page. */
export function describeError(error) {
  if (error instanceof ApiError) {
    const details = error.descriptions.length ? ": " + error.descriptions.join("; ") : "";
    return `${error.message}${details} (HTTP ${error.status}${error.trackingId ? ", tracking id " + error.trackingId : ""})`;
  }
  return String(error?.message || error);
}
