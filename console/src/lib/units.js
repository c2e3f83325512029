// Quantities arrive as exact decimal text ("5299.17162", "17.5"): never JS floats. They are
// read into BigInt micro-units (the service's own unit, 10^-6) for every sum, difference and
// comparison, and written back as the service writes them (trailing zeros removed).

const MICRO = 1000000n;
const DECIMAL = /^(-?)(\d+)(?:\.(\d{1,6}))?$/;

/** "17.5" → 17500000n; throws on anything that is not a decimal with at most 6 places. */
export function toUnits(text) {
  const match = DECIMAL.exec(String(text ?? "").trim());
  if (!match) throw new Error(`not an exact quantity: ${JSON.stringify(text)}`);
  const [, sign, whole, fraction = ""] = match;
  const units = BigInt(whole) * MICRO + BigInt(fraction.padEnd(6, "0"));
  return sign ? -units : units;
}

/** 17500000n → "17.5" (as format_quantity / signed_quantity write it). */
export function formatUnits(units) {
  const negative = units < 0n;
  const magnitude = negative ? -units : units;
  const whole = magnitude / MICRO;
  const fraction = (magnitude % MICRO).toString().padStart(6, "0").replace(/0+$/, "");
  return (negative ? "-" : "") + whole.toString() + (fraction ? "." + fraction : "");
}

/** Σ of decimal texts (or of items' `field`), in micro-units. */
export function sumUnits(values, field) {
  let total = 0n;
  for (const value of values) total += toUnits(field ? value[field] : value);
  return total;
}

/** A signed difference as text with an explicit "+" for growth: "+3.5", "-1", "0". */
export function formatChange(units) {
  return units > 0n ? "+" + formatUnits(units) : formatUnits(units);
}

/** new vs old as a percentage with one decimal, from integers only ("+12.5%"); "new" when old is 0. */
export function formatPercentChange(oldUnits, newUnits) {
  if (oldUnits === 0n) return newUnits === 0n ? "0%" : "new";
  const tenths = ((newUnits - oldUnits) * 1000n) / oldUnits; // truncated toward zero
  const negative = tenths < 0n;
  const magnitude = negative ? -tenths : tenths;
  const text = `${magnitude / 10n}.${magnitude % 10n}%`;
  return tenths === 0n ? "0.0%" : (negative ? "-" : "+") + text;
}

/** Micro-units to a Number for drawing a chart only (never for arithmetic shown as a figure). */
export function unitsForChart(units) {
  return Number(units) / 1e6;
}

/** Compare two decimal texts exactly (for sorting tables). */
export function compareQuantities(a, b) {
  const difference = toUnits(a) - toUnits(b);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}
