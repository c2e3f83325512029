// Hash routes: #/reports, #/reconcile?month=2026-11, #/explain?…, #/compare?id=…&against=…
// (the fragment never reaches a server or a log).
import { writable } from "svelte/store";

function parse() {
  const hash = window.location.hash.replace(/^#\/?/, "");
  const [page, query = ""] = hash.split("?");
  return { page: page || "reports", params: Object.fromEntries(new URLSearchParams(query)) };
}

export const route = writable(parse());
window.addEventListener("hashchange", () => route.set(parse()));

export function href(page, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, value]) => value !== undefined && value !== null && value !== ""));
  const text = query.toString();
  return `#/${page}${text ? "?" + text : ""}`;
}

export function go(page, params) {
  window.location.hash = href(page, params).slice(1);
}
