// The bearer token: pasted by the admin, or delivered in the URL fragment (#access_token=…, as
// an OAuth implicit redirect does and as `wbr dev`'s banner link does). Kept in sessionStorage
// (this tab only, gone when it closes); never put in a query string, never logged.

const KEY = "wbr.console.token";
export const READ_SCOPE = "spark-admin:wholesale_billing_reports_read";
export const WRITE_SCOPE = "spark-admin:wholesale_billing_reports_write";

/** Take a token from the fragment, if one is there, and remove it from the address bar. */
export function takeTokenFromFragment() {
  const hash = window.location.hash.replace(/^#/, "");
  if (!/(^|&)access_token=/.test(hash)) return;
  const params = new URLSearchParams(hash);
  const token = params.get("access_token");
  if (token) storeToken(token);
  // Drop it from the address bar and from this entry of the history.
  window.history.replaceState(null, "", window.location.pathname + window.location.search + "#/reports");
}

export function storeToken(token) {
  sessionStorage.setItem(KEY, token.trim());
}

export function currentToken() {
  return sessionStorage.getItem(KEY) || "";
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

/** The token's claims, decoded for the UI only (the API verifies the token on every call). */
export function claimsOf(token) {
  try {
    const payload = token.split(".")[1];
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

export function scopesOf(claims) {
  const scope = claims?.scope ?? claims?.scp ?? "";
  return new Set(Array.isArray(scope) ? scope : String(scope).split(/\s+/).filter(Boolean));
}
