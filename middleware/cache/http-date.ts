/**
 * HTTP-date parsing (RFC 9110 §5.6.7), strict where `Date.parse` guesses.
 * @module
 */

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']

/** IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE = /^(?:mon|tue|wed|thu|fri|sat|sun), (\d{2}) ([a-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) gmt$/i
/** rfc850-date (obsolete): `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC850_DATE = /^(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday), (\d{2})-([a-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) gmt$/i
/** asctime-date (obsolete): `Sun Nov  6 08:49:37 1994`. */
const ASCTIME_DATE = /^(?:mon|tue|wed|thu|fri|sat|sun) ([a-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/i

/**
 * Milliseconds since the epoch of an HTTP-date in any of its three formats (recipients must accept all),
 * names matched without regard to case; `undefined` for anything else. `Date.parse` is not used: it accepts
 * `0`, `UTC`, two-digit years, missing commas and dashes, which a cache must treat as invalid (an invalid
 * `Expires` means already expired, RFC 9111 §5.3).
 */
export function parseHttpDate(value: string | null | undefined): number | undefined {
  if (!value) return undefined
  const text = value.trim()
  let match = IMF_FIXDATE.exec(text)
  if (match) return utc(Number(match[3]), match[2]!, Number(match[1]), match[4]!, match[5]!, match[6]!)
  match = RFC850_DATE.exec(text)
  if (match) {
    // A two-digit year that looks more than 50 years in the future is in the past century (RFC 9110 §5.6.7).
    const thisYear = new Date().getUTCFullYear()
    let year = Math.floor(thisYear / 100) * 100 + Number(match[3])
    if (year > thisYear + 50) year -= 100
    return utc(year, match[2]!, Number(match[1]), match[4]!, match[5]!, match[6]!)
  }
  match = ASCTIME_DATE.exec(text)
  if (match) return utc(Number(match[6]), match[1]!, Number(match[2]!.trim()), match[3]!, match[4]!, match[5]!)
  return undefined
}

/** The HTTP-date (IMF-fixdate) of `ms`. */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString()
}

/** `Date.UTC` of the parts, or `undefined` when a part is out of range (31 Feb, 25:00). */
function utc(year: number, monthName: string, day: number, hours: string, minutes: string, seconds: string): number | undefined {
  const month = MONTHS.indexOf(monthName.toLowerCase())
  const [h, m, s] = [Number(hours), Number(minutes), Number(seconds)]
  if (month === -1 || day < 1 || h > 23 || m > 59 || s > 60) return undefined
  const time = Date.UTC(year, month, day, h, m, Math.min(s, 59))
  if (new Date(time).getUTCDate() !== day) return undefined
  return time
}
