import { describe, expect, it } from 'vitest'
import { harmlessChars, textHazards, transformationHazards } from '../../../../middleware/waf/prefilter/plain-texts.ts'
import { TRANSFORMATIONS } from '../../../../middleware/waf/transformations/index.ts'
import { randomTexts } from '../../../helpers/random.ts'
import { corpusValues } from '../crs-patterns.ts'

/** ASCII upper-case letters folded to lower case, as the literal index reads a text. */
function fold(text: string): string {
  return text.replace(/[A-Z]+/g, (run) => run.toLowerCase())
}

/** Chars a text may hold that `textHazards` counts as odd: controls, DEL, Latin-1, NBSP and one wider char. */
const ODD_CHARS = ['\x00', '\t', '\n', '\r', '\x0b', '\x7f', '\x80', '\xa0', '\xc3', '\xa9', '\xff', '\u0100']

describe('plain texts: a text holding none of a transformation\'s hazards comes out equal up to ASCII case', () => {
  it.each(harmlessChars())('$name leaves every text of its harmless chars as it was, up to ASCII case', ({ name, chars, odd }) => {
    const transformation = TRANSFORMATIONS[name]!
    const alphabet = [...chars, ...(odd ? ODD_CHARS : [])]
    // Weighted towards the punctuation, where the transformations look.
    const punctuation = alphabet.filter((char) => !/[A-Za-z0-9]/.test(char))
    const texts = [...randomTexts(1, alphabet, 20_000, 16), ...randomTexts(2, [...punctuation, 'a', 'B', '0'], 20_000, 16)]
    const mask = transformationHazards(transformation)
    expect(texts.filter((text) => (textHazards(text) & mask) !== 0)).toEqual([])
    expect(texts.filter((text) => fold(transformation(text)) !== fold(text))).toEqual([])
  })

  it('finds no text plain for a transformation it does not know, not even the empty text', () => {
    for (const name of ['base64decode', 'sha1', 'hexencode', 'length', 'urlencode']) {
      expect(textHazards('') & transformationHazards(TRANSFORMATIONS[name]!)).not.toBe(0)
    }
    expect(textHazards('abc') & transformationHazards((text: string) => text)).not.toBe(0)
  })

  it('is right on every corpus value: plain for a transformation means equal to it up to case', () => {
    const corpus = corpusValues()
    for (const { name } of harmlessChars()) {
      const transformation = TRANSFORMATIONS[name]!
      const mask = transformationHazards(transformation)
      const wrong = corpus.filter((text) => (textHazards(text) & mask) === 0 && fold(transformation(text)) !== fold(text))
      expect({ name, wrong }).toEqual({ name, wrong: [] })
    }
  })

  it('counts a base64 Sec-WebSocket-Key plain for the decoders and cmdLine, not for normalisePath (it may hold /)', () => {
    const key = textHazards('dGhlIHNhbXBsZSBub25jZQ==')
    for (const name of ['urldecodeuni', 'htmlentitydecode', 'jsdecode', 'cmdline', 'utf8tounicode', 'removenulls', 'compresswhitespace']) {
      expect(key & transformationHazards(TRANSFORMATIONS[name]!)).toBe(0)
    }
    expect(textHazards('a/b+c==') & transformationHazards(TRANSFORMATIONS.urldecodeuni!)).not.toBe(0)
  })
})
