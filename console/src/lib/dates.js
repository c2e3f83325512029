// Billing periods in UTC calendar days, as the API has them.

export function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

export function todayUtc() {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

/** "YYYY-MM" → [first day, last day] as ISO dates. */
export function monthPeriod(month) {
  const [year, number] = month.split("-").map(Number);
  const start = new Date(Date.UTC(year, number - 1, 1));
  const end = new Date(Date.UTC(year, number, 0));
  return [isoDay(start), isoDay(end)];
}

export function shiftMonth(month, delta) {
  const [year, number] = month.split("-").map(Number);
  const date = new Date(Date.UTC(year, number - 1 + delta, 1));
  return isoDay(date).slice(0, 7);
}

/** The last complete calendar month (UTC): last month. */
export function lastMonth() {
  return shiftMonth(isoDay(todayUtc()).slice(0, 7), -1);
}

/** "2026-11" → "November 2026". */
export function monthName(month) {
  const [year, number] = month.split("-").map(Number);
  return new Date(Date.UTC(year, number - 1, 1)).toLocaleString("en", { month: "long", year: "numeric", timeZone: "UTC" });
}

/** A period's label: a whole month by its name, else "start – end". */
export function periodLabel(start, end) {
  const month = start.slice(0, 7);
  const [first, last] = monthPeriod(month);
  return start === first && end === last ? monthName(month) : `${start} – ${end}`;
}

/** An ISO instant as "2026-11-24 10:15 UTC". */
export function instantLabel(instant) {
  if (!instant) return "";
  return instant.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC");
}
