import { describe, expect, it } from 'vitest'
import { cmdLine, normalisePath, normalisePathWin, normalizePath } from '../../../../middleware/waf/transformations/path.ts'
import { randomTexts } from '../../../helpers/random.ts'
import { corpusValues } from '../crs-patterns.ts'

/** `t:cmdLine` char by char, as it was before its shortcut for values with nothing to delete or squeeze. */
function cmdLineByChar(input: string): string {
  let out = ''
  let space = false
  for (let i = 0; i < input.length; i++) {
    const code = input.charCodeAt(i)
    switch (code) {
      case 0x22: case 0x27: case 0x5c: case 0x5e:
        break
      case 0x20: case 0x2c: case 0x3b: case 0x09: case 0x0d: case 0x0a:
        if (!space) {
          out += ' '
          space = true
        }
        break
      case 0x2f: case 0x28:
        if (space) out = out.slice(0, -1)
        space = false
        out += input[i]!
        break
      default:
        out += code >= 0x41 && code <= 0x5a ? String.fromCharCode(code | 0x20) : input[i]!
        space = false
    }
  }
  return out
}

describe('transformation shortcuts give what the full transformation gives', () => {
  const corpus = corpusValues()

  it('cmdLine: lower-casing alone where there is nothing to delete or squeeze', () => {
    const texts = [...corpus, ...randomTexts(1, ['a', 'B', '/', '(', ' ', ',', ';', '\t', '\n', '"', "'", '\\', '^', 'É', 'x'], 50_000, 11)]
    expect(texts.filter((text) => cmdLine(text) !== cmdLineByChar(text))).toEqual([])
  })

  it('normalisePath and normalisePathWin: the path itself where it has no dot segment, doubled slash or backslash', () => {
    const texts = [...corpus, ...randomTexts(2, ['a', 'b', '/', '.', '\\', ':', '?'], 100_000, 11)]
    expect(texts.filter((text) => normalisePath(text) !== normalizePath(text, false))).toEqual([])
    expect(texts.filter((text) => normalisePathWin(text) !== normalizePath(text, true))).toEqual([])
  })
})
