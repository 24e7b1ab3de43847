/**
 * The SQL injection fingerprints (see `sqli-types.ts` for the letters),
 * derived from the corpora by `bench/waf-fingerprints.ts`: regenerate, do
 * not edit. Portable: no `node:` import.
 */

/** Fingerprints that flag a value as SQL injection. */
export const SQLI_FINGERPRINTS: readonly string[] = [
  "U((Sw", "USn,n", "n&(Sf", "n&f(n", "n&n=(", "n&n=n", "n&v=s", "n)&(n",
  "n;Sf(", "n;Skw", "n;Svk", "n;Sws", "nU(Sn", "nUSn", "nUSn,", "nUSw,",
  "nUSwk", "nhUSn", "nkf()", "nkn,n", "nknc", "nok", "s&!n=", "s&(Sf",
  "s&(Sn", "s&(Sw", "s&f(f", "s&f(n", "s&f(s", "s&hn=", "s&n=(", "s&n=f",
  "s&n=n", "s&nc", "s&s=s", "s&sok", "s)&(s", "s);Sk", "s)USn", "s)c",
  "s;Sc", "s;Skf", "s;Sks", "s;Skw", "s;Sok", "s;Svc", "s;Swk", "s;Sws",
  "s;Sww", "s;c", "sUShw", "sUSn,", "sUSnc", "sUSvc", "sUSw,", "sUSwk",
  "sc", "sf(n,", "skn=n", "sknc", "skwkn", "skwsw", "snos", "so(Sn",
  "sof(n", "sok", "wf(s)",
]
