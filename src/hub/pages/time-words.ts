/** A time ahead, in words people read at a glance ("in 7 days", not "in 10080 min"). */
export function inWords(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const n = (v: number, unit: string) => `in ${v} ${unit}${v === 1 ? '' : 's'}`;
  if (s < 60) return 'in less than a minute';
  if (s < 90 * 60) return n(Math.round(s / 60), 'minute');
  if (s < 36 * 3600) return n(Math.round(s / 3600), 'hour');
  if (s < 60 * 86400) return n(Math.round(s / 86400), 'day');
  if (s < 730 * 86400) return n(Math.round(s / (30 * 86400)), 'month');
  return n(Math.round(s / (365 * 86400)), 'year');
}
