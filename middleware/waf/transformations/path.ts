/**
 * `t:normalisePath`, `t:normalisePathWin` and `t:cmdLine`: the
 * transformations that rewrite structure rather than decode. Both follow
 * ModSecurity's C code step for step (its `normalize_path_inplace()` is a
 * pointer machine whose corner cases the CRS test vectors pin down).
 */

import { lowercase } from './text.ts'

const SLASH = 0x2f
const BACKSLASH = 0x5c
const DOT = 0x2e

/**
 * What `normalisePath` changes: a doubled slash, a `.` beside a slash or at
 * either end (a `.` or `..` segment). A path without any is its own
 * normal form (most request paths: `/socket.io/`, `/api/v2/ws`).
 */
const PATH_CHANGES = /\/\/|\/\.|\.\/|^\.|\.$/
/** The same with backslashes as slashes, for `normalisePathWin` (which also turns every backslash into a slash). */
const WIN_PATH_CHANGES = /\\|\/\/|\/\.|\.\/|^\.|\.$/
/** What `cmdLine` does more to than lower-case: the chars it deletes, and the separators it squeezes. */
const CMDLINE_CHANGES = /["'\\^ ,;\t\r\n]/

/**
 * Removes `./` and `dir/../` segments and repeated slashes; `win` first turns
 * backslashes into slashes. A relative path keeps the `..` it cannot resolve
 * (`dir/../../x` is `../x`), an absolute one stops at the root
 * (`/../etc` is `/etc`), and a trailing slash stays only if there was one.
 * Exported for the test that checks `normalisePath`'s shortcut against it.
 *
 * @example
 * normalizePath('a\\..\\b', true) // 'b'
 */
export function normalizePath(input: string, win: boolean): string {
  const length = input.length
  if (length === 0) return input
  const buf = new Uint16Array(length)
  for (let i = 0; i < length; i++) buf[i] = input.charCodeAt(i)
  const end = length - 1
  const isSlash = (code: number | undefined) => code === SLASH || (win && code === BACKSLASH)
  const relative = !isSlash(buf[0])
  const trailing = isSlash(buf[end])
  let src = 0
  let dst = 0
  let kept = 0
  let hitRoot = false
  let done = false
  while (!done && src <= end && dst <= end) {
    if (win) {
      if (buf[src] === BACKSLASH) buf[src] = SLASH
      if (src < end && buf[src + 1] === BACKSLASH) buf[src + 1] = SLASH
    }
    // A segment is looked at where it ends: before a slash, or at the end of the input.
    let atSegmentEnd = true
    if (src === end) done = true
    else if (buf[src + 1] !== SLASH) atSegmentEnd = false
    if (atSegmentEnd && !(src !== end && buf[src] === SLASH)) {
      if (buf[src] === DOT) {
        if (dst > 0 && buf[dst - 1] === DOT) {
          // `..`: drop it and the segment before, unless a relative path has nothing left to drop.
          if (relative && (hitRoot || dst - 2 <= 0)) {
            hitRoot = true
          } else {
            dst -= 3
            while (dst > 0 && buf[dst] !== SLASH) dst--
            if (dst <= 0) {
              hitRoot = true
              dst = 0
              if (!relative && src === end) dst++
            }
            if (done) {
              kept = dst
              continue
            }
            src++
          }
        } else if (dst === 0) {
          // `./` at the start of a relative path.
          if (done) {
            kept = dst
            continue
          }
          src++
        } else if (buf[dst - 1] === SLASH) {
          // `/./`
          if (done) {
            kept = dst
            continue
          }
          dst--
          src++
        }
      } else if (dst > 0) {
        hitRoot = false
      }
    }
    if (buf[src] === SLASH) {
      // Collapse a run of slashes to its last one.
      while (src < end && isSlash(buf[src + 1])) src++
      if (relative && dst === 0) {
        src++
        kept = dst
        continue
      }
    }
    buf[dst++] = buf[src++]!
    kept = dst
  }
  if (!trailing && dst > 0 && buf[dst - 1] === SLASH) kept--
  let out = ''
  for (let i = 0; i < kept; i++) out += String.fromCharCode(buf[i]!)
  return out
}

/**
 * `t:normalisePath` (alias `normalizePath`): resolves `.` and `..` segments
 * and collapses repeated slashes.
 *
 * @example
 * normalisePath('/a/./b/../../../etc//passwd') // '/etc/passwd'
 */
export function normalisePath(input: string): string {
  if (!PATH_CHANGES.test(input)) return input
  return normalizePath(input, false)
}

/**
 * `t:normalisePathWin` (alias `normalizePathWin`): `normalisePath` after
 * turning backslashes into slashes.
 *
 * @example
 * normalisePathWin('C:\\a\\..\\b') // 'C:/b'
 */
export function normalisePathWin(input: string): string {
  if (!WIN_PATH_CHANGES.test(input)) return input
  return normalizePath(input, true)
}

/**
 * `t:cmdLine`: undoes shell obfuscation the way ModSecurity does. Deletes
 * `\ " ' ^`, turns each run of space, tab, CR, LF, `,` and `;` into one space,
 * deletes a space before `/` or `(`, and lower-cases ASCII letters.
 *
 * @example
 * cmdLine('C^O^M^S^P^E^C  /c "wh"o^ami') // 'comspec/c whoami'
 */
export function cmdLine(input: string): string {
  // Nothing to delete or squeeze (a cookie value, a token): only the case changes, and '/' and '(' follow no space.
  if (!CMDLINE_CHANGES.test(input)) return lowercase(input)
  // Every kept char is lower-cased and the chars looked at are not letters: lower-case first, then copy runs.
  const text = lowercase(input)
  let out = ''
  let run = 0
  let space = false
  for (let i = 0; i < text.length; i++) {
    switch (text.charCodeAt(i)) {
      case 0x22: case 0x27: case 0x5c: case 0x5e:
        out += text.slice(run, i)
        run = i + 1
        break
      case 0x20: case 0x2c: case 0x3b: case 0x09: case 0x0d: case 0x0a:
        out += text.slice(run, i)
        run = i + 1
        if (!space) {
          out += ' '
          space = true
        }
        break
      case 0x2f: case 0x28:
        // After a separator (and deleted chars) nothing is pending, and the last char out is its space: drop it.
        if (space) {
          out = out.slice(0, -1)
          run = i
        }
        space = false
        break
      default:
        space = false
    }
  }
  return out + text.slice(run)
}
