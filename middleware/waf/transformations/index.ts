/**
 * The transformation table: every SecLang `t:` action the WAF supports, keyed
 * by its lower-cased name. Each is pure and total (never throws), takes a
 * byte string and returns one (one char per byte, see `bytes.ts`), and
 * follows ModSecurity v2 / libmodsecurity semantics, checked against
 * ModSecurity's own test vectors (`test/middleware/waf/transformations/transformations.test.ts`).
 *
 * Left out on purpose: `utf8toUnicode`'s and `urlDecodeUni`'s Unicode map
 * (`SecUnicodeMapFile`); `t:none` is here but the engine treats it as "clear
 * the list so far", which no function can express.
 */
import type { Transformation } from '../types.ts'
import { base64Decode, base64DecodeExt, base64Encode, hexDecode, hexEncode, length, sqlHexDecode } from './binary.ts'
import { cssDecode, escapeSeqDecode, htmlEntityDecode, jsDecode } from './escapes.ts'
import { md5, sha1 } from './hash.ts'
import { cmdLine, normalisePath, normalisePathWin } from './path.ts'
import {
  compressWhitespace,
  lowercase,
  parityEven7bit,
  parityOdd7bit,
  parityZero7bit,
  removeComments,
  removeNulls,
  removeWhitespace,
  replaceComments,
  replaceNulls,
  trim,
  trimLeft,
  trimRight,
  uppercase,
} from './text.ts'
import { urlDecode, urlDecodeUni, urlEncode, utf8toUnicode } from './url.ts'

/** `t:none`: the identity (the engine also clears earlier transformations when it sees it). */
function none(input: string): string {
  return input
}

/**
 * Every supported transformation, keyed by lower-cased SecLang name
 * (`t:urlDecodeUni` is `TRANSFORMATIONS.urldecodeuni`). A name missing here is
 * one the engine reports as unsupported.
 *
 * @example
 * const chain = ['urldecodeuni', 'lowercase'].map((name) => TRANSFORMATIONS[name]!)
 * chain.reduce((value, t) => t(value), '%3CScRiPt') // '<script'
 */
export const TRANSFORMATIONS: Readonly<Record<string, Transformation>> = Object.freeze(Object.assign(Object.create(null) as Record<string, Transformation>, {
  none,
  lowercase,
  uppercase,
  urldecode: urlDecode,
  urldecodeuni: urlDecodeUni,
  urlencode: urlEncode,
  htmlentitydecode: htmlEntityDecode,
  jsdecode: jsDecode,
  cssdecode: cssDecode,
  escapeseqdecode: escapeSeqDecode,
  removenulls: removeNulls,
  replacenulls: replaceNulls,
  removewhitespace: removeWhitespace,
  compresswhitespace: compressWhitespace,
  replacecomments: replaceComments,
  removecomments: removeComments,
  normalisepath: normalisePath,
  normalizepath: normalisePath,
  normalisepathwin: normalisePathWin,
  normalizepathwin: normalisePathWin,
  cmdline: cmdLine,
  base64decode: base64Decode,
  base64decodeext: base64DecodeExt,
  base64encode: base64Encode,
  hexdecode: hexDecode,
  hexencode: hexEncode,
  sqlhexdecode: sqlHexDecode,
  utf8tounicode: utf8toUnicode,
  length,
  sha1,
  md5,
  trim,
  trimleft: trimLeft,
  trimright: trimRight,
  parityeven7bit: parityEven7bit,
  parityodd7bit: parityOdd7bit,
  parityzero7bit: parityZero7bit,
}))
