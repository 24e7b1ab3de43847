import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { TRANSFORMATIONS } from '../../../../middleware/waf/transformations/index.ts'
import { toByteString } from '../../../../middleware/waf/bytes.ts'

/** Runs the named transformation from the table, so that the table's keys are tested too. */
function t(name: string, input: string): string {
  const transformation = TRANSFORMATIONS[name.toLowerCase()]
  if (!transformation) throw new Error(`no transformation ${name}`)
  return transformation(input)
}

/** Every byte 0x00–0xFF in order, as a byte string. */
const ALL_BYTES = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('')

/** `%00%01…%ff`, lower-case hex. */
const ALL_PERCENT = Array.from({ length: 256 }, (_, i) => '%' + i.toString(16).padStart(2, '0')).join('')

// Vectors from ModSecurity's own suite (owasp-modsecurity/secrules-language-tests,
// transformations/*.json), input → output; NULs and high bytes written as escapes.
const VECTORS: Record<string, [input: string, output: string][]> = {
  urlDecode: [
    ['', ''],
    ['TestCase', 'TestCase'],
    ['Test\x00Case', 'Test\x00Case'],
    ['+' + ALL_PERCENT, ' ' + ALL_BYTES],
    ['Test+Case', 'Test Case'],
    ['%+', '% '],
    ['%%20', '% '],
    ['%0g%20', '%0g '],
    ['%0%20', '%0 '],
    ['%g0%20', '%g0 '],
    ['%g%20', '%g '],
    ['%0%1%2%3%4%5%6%7%8%9%0%a%b%c%d%e%f', '%0%1%2%3%4%5%6%7%8%9%0%a%b%c%d%e%f'],
    ['%g0%g1%g2%g3%g4%g5%g6%g7%g8%g9%g0%ga%gb%gc%gd%ge%gf', '%g0%g1%g2%g3%g4%g5%g6%g7%g8%g9%g0%ga%gb%gc%gd%ge%gf'],
    ['%', '%'],
    ['%0', '%0'],
    ['%%', '%%'],
    ['%0g', '%0g'],
    ['%gg', '%gg'],
  ],
  urlDecodeUni: [
    ['', ''],
    ['Test+Case', 'Test Case'],
    ['+' + ALL_PERCENT, ' ' + ALL_BYTES],
    ['+' + Array.from({ length: 256 }, (_, i) => '%u00' + i.toString(16).padStart(2, '0')).join(''), ' ' + ALL_BYTES],
    ['+' + Array.from({ length: 256 }, (_, i) => '%u11' + i.toString(16).padStart(2, '0')).join(''), ' ' + ALL_BYTES],
    [Array.from({ length: 0x5e }, (_, i) => '%uff' + (i + 1).toString(16).padStart(2, '0')).join(''), Array.from({ length: 0x5e }, (_, i) => String.fromCharCode(i + 0x21)).join('')],
    ['%+', '% '],
    ['%%u0020', '% '],
    ['%0g%u0020', '%0g '],
    ['%u%u0020', '%u '],
    ['%u0%u0020', '%u0 '],
    ['%u00%u0020', '%u00 '],
    ['%u000%u0020', '%u000 '],
    ['%u000g%u0020', '%u000g '],
    ['%', '%'],
    ['%0g', '%0g'],
  ],
  htmlEntityDecode: [
    ['', ''],
    ['Test\x00Case', 'Test\x00Case'],
    ['&#x0;&#X0;&#x20;&#X20;&#0;&#32;\x00&#100;&quot;&amp;&lt;&gt;&nbsp;', '\x00\x00  \x00 \x00d"&<>\xa0'],
    ['&#x0&#X0&#x20&#X20&#0&#32\x00&#100&quot&amp&lt&gt&nbsp', '\x00\x00  \x00 \x00d"&<>\xa0'],
    ['&#xg;&#Xg;&#xg0;&#X2g;&#a;\x00&#a2;&#3a&#a00;&#1a0;&#10a;&foo;', '&#xg;&#Xg;&#xg0;\x02g;&#a;\x00&#a2;\x03a&#a00;\x01a0;\na;&foo;'],
    ['&#xg&#Xg&#xg0&#X2g&#a\x00&#a2&#3a&#a00&#1a0&#10a&foo', '&#xg&#Xg&#xg0\x02g&#a\x00&#a2\x03a&#a00\x01a0\na&foo'],
  ],
  jsDecode: [
    ['', ''],
    ['Test\x00Case', 'Test\x00Case'],
    ['\\a\\b\\f\\n\\r\\t\\v\\?\\\'\\"\\0\\12\\123\\x00\\xff\\u0021\\uff01', '\x07\b\f\n\r\t\x0b?\'"\x00\nS\x00\xff!!'],
    ['\\8\\9\\666\\u00ag\\u00ga\\u0zaa\\uz0aa\\xag\\xga\\0123\\u00a', '8966u00agu00gau0zaauz0aaxagxga\n3u00a'],
    ['\\x', 'x'],
    ['\\x\\x0', 'xx0'],
    ['\\u\\u0\\u01\\u012\x00', 'uu0u01u012\x00'],
    ['\\', '\\'],
    ['\\\\0', '\\0'],
  ],
  cssDecode: [
    ['', ''],
    ['test\\a\\b\\f\\n\\r\\t\\v\\?\\\'\\"\\0\\12\\123\\1234\\12345\\123456\\ff01\\ff5e\\\n\\0  string', 'test\n\x0b\x0fnrtv?\'"\x00\x12\x23\x34\x45\x56!~\x00 string'],
    ['test\\', 'test'],
    ['\\1A\\1 A\\1234567\\123456 7\\1x\\1 x', '\x1a\x01AV7V7\x01x\x01x'],
  ],
  escapeSeqDecode: [
    ['', ''],
    ['\\a\\b\\f\\n\\r\\t\\v\\?\\\'\\"\\0\\12\\123\\x00\\xff', '\x07\b\f\n\r\t\x0b?\'"\x00\nS\x00\xff'],
    ['\\8\\9\\666\\xag\\xga\\0123', '89\xb6xagxga\n3'],
    ['\\x', 'x'],
    ['\\x\\x0', 'xx0'],
    ['\\0', '\x00'],
    ['\\01', '\x01'],
    ['\\012', '\n'],
    ['\\', '\\'],
    ['\\\\u0000', '\\u0000'],
  ],
  normalisePath: [
    ['', ''],
    ['/foo/bar/baz', '/foo/bar/baz'],
    ['/foo/bar\x00/baz', '/foo/bar\x00/baz'],
    ['x', 'x'],
    ['.', ''],
    ['./', ''],
    ['./..', '..'],
    ['./../', '../'],
    ['..', '..'],
    ['../', '../'],
    ['../.', '..'],
    ['.././', '../'],
    ['../..', '../..'],
    ['../../', '../../'],
    ['/dir/foo//bar', '/dir/foo/bar'],
    ['dir/foo//bar/', 'dir/foo/bar/'],
    ['dir/../foo', 'foo'],
    ['dir/../../foo', '../foo'],
    ['dir/./.././../../foo/bar', '../../foo/bar'],
    ['dir/./.././../../foo/bar/.', '../../foo/bar'],
    ['dir/./.././../../foo/bar/./', '../../foo/bar/'],
    ['dir/./.././../../foo/bar/..', '../../foo'],
    ['dir/./.././../../foo/bar/../', '../../foo/'],
    ['dir/./.././../../foo/bar/', '../../foo/bar/'],
    ['dir//.//..//.//..//..//foo//bar', '../../foo/bar'],
    ['dir//.//..//.//..//..//foo//bar//', '../../foo/bar/'],
    ['dir/subdir/subsubdir/subsubsubdir/../../..', 'dir'],
    ['dir/./subdir/./subsubdir/./subsubsubdir/../../..', 'dir'],
    ['dir/./subdir/../subsubdir/../subsubsubdir/..', 'dir'],
    ['/dir/./subdir/../subsubdir/../subsubsubdir/../', '/dir/'],
    ['/./.././../../../../../../../\x00/../etc/./passwd', '/etc/passwd'],
  ],
  normalisePathWin: [
    ['\\foo\\bar\\baz', '/foo/bar/baz'],
    ['\\foo\\bar\x00\\baz', '/foo/bar\x00/baz'],
    ['.\\', ''],
    ['.\\..\\', '../'],
    ['..\\', '../'],
    ['..\\..', '../..'],
    ['\\dir\\foo\\\\bar', '/dir/foo/bar'],
    ['dir\\foo\\\\bar\\', 'dir/foo/bar/'],
    ['dir\\..\\..\\foo', '../foo'],
    ['dir\\.\\..\\.\\..\\..\\foo\\bar\\..\\', '../../foo/'],
    ['dir\\\\.\\\\..\\\\.\\\\..\\\\..\\\\foo\\\\bar\\\\', '../../foo/bar/'],
    ['\\dir\\.\\subdir\\..\\subsubdir\\..\\subsubsubdir\\..\\', '/dir/'],
    ['\\.\\..\\.\\..\\..\\..\\..\\..\\..\\..\\\\0\\..\\etc\\.\\passwd', '/etc/passwd'],
  ],
  removeComments: [
    ['', ''],
    ['/* TestCase */', ''],
    ['Before/* TestCase */After', 'BeforeAfter'],
    ['Before TestCase */ After', 'Before TestCase */ After'],
    ['/*Before/* Test\r\nCase ', ' '],
    ['Before /* Test\nCase ', 'Before  '],
    ['Before/* T*/ /* e */ /* s */ /* t */\r\nCase ', 'Before   \r\nCase '],
    ['Before /* */ ops */ Test\nCase ', 'Before  ops */ Test\nCase '],
    ['Test/*\nCase */ After', 'Test After'],
    ['SELECT/**//**/UNION', 'SELECTUNION'],
    ['foo<!-- comment 1 --><!-- comment 2 -->bar', 'foobar'],
  ],
  replaceComments: [
    ['', ''],
    ['/* TestCase */', ' '],
    ['Before/* TestCase */After', 'Before After'],
    ['Before /* TestCase */ After', 'Before   After'],
    ['Before/* Test\r\nCase ', 'Before '],
    ['Test\r\nCase */After', 'Test\r\nCase */After'],
  ],
  compressWhitespace: [
    ['', ''],
    ['Test Case', 'Test Case'],
    ['  Test  \t   Case  ', ' Test Case '],
    ['This is a   test case with a tab \t, vtab \x0b, newline \n, return \r, formfeed \f, and a NUL\x00 in it with a CRLF at the end.\r\n',
      'This is a test case with a tab , vtab , newline , return , formfeed , and a NUL\x00 in it with a CRLF at the end. '],
  ],
  trim: [
    ['    TestCase', 'TestCase'],
    ['TestCase    ', 'TestCase'],
    ['    Test   Case    ', 'Test   Case'],
    [' \t   Test \x00 Case \t  \t   \r\n  ', 'Test \x00 Case'],
  ],
  base64Decode: [
    ['', ''],
    ['VGVzdENhc2U=', 'TestCase'],
    ['VGVzdENhc2Ux', 'TestCase1'],
    ['VGVzdENhc2UxMg==', 'TestCase12'],
    ['VGVzdABDYXNl', 'Test\x00Case'],
    ['VGVzdENhc2U=\x00VGVzdENhc2U=', 'TestCase'],
  ],
  base64DecodeExt: [
    ['VGVzdENhc2UxMg==', 'TestCase12'],
    ['P.HNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==', '<script>alert(1)</script>'],
    ['VGVzdABDYXNl', 'Test\x00Case'],
    ['dzBzV==YWxlcnQoMSk=', ''],
    ['eyJwIjoieHh-IiwiYWxnIjoibm9uZSIsInR5cCI6IkpXVCJ9', '{"p":"xx~","alg":"none","typ":"JWT"}'],
  ],
  hexDecode: [
    ['5465737443617365', 'TestCase'],
    ['546573740043617365', 'Test\x00Case'],
    ['01234567890a0z01234567890a', '\x01\x23\x45\x67\x89\x0a\x23\x01\x23\x45\x67\x89\x0a'],
    ['01234567890az', '\x01\x23\x45\x67\x89\x0a'],
    ['01234567890a0', '\x01\x23\x45\x67\x89\x0a'],
  ],
  sqlHexDecode: [
    ['0x414243', 'ABC'],
    ['ABC', 'ABC'],
    ['00x414243', '0ABC'],
    ['0xz0x414243', '0xzABC'],
    ['0x4142430x434241', 'ABCCBA'],
    ['0x4142430x0x434241', 'ABC0xCBA'],
  ],
  urlEncode: [
    ['', ''],
    ['TestCase', 'TestCase'],
    [' ' + ALL_BYTES.slice(0, 0x7f) + '\xff', '+' + '%00%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13%14%15%16%17%18%19%1a%1b%1c%1d%1e%1f+%21%22%23%24%25%26%27%28%29*%2b%2c%2d%2e%2f0123456789%3a%3b%3c%3d%3e%3f%40ABCDEFGHIJKLMNOPQRSTUVWXYZ%5b%5c%5d%5e%5f%60abcdefghijklmnopqrstuvwxyz%7b%7c%7d%7e%ff'],
    ['Test Case', 'Test+Case'],
    ['%0g ', '%250g+'],
    ['%gg', '%25gg'],
  ],
}

describe('TRANSFORMATIONS against ModSecurity test vectors', () => {
  for (const [name, vectors] of Object.entries(VECTORS)) {
    for (const [input, output] of vectors) {
      it(`${name} turns ${JSON.stringify(input).slice(0, 60)} into ${JSON.stringify(output).slice(0, 60)}`, () => {
        expect(t(name, input)).toBe(output)
      })
    }
  }
})

describe('URL decoding', () => {
  it('urlDecodeUni decodes %u0041 to A', () => {
    expect(t('urlDecodeUni', '%u0041')).toBe('A')
  })

  it('urlDecodeUni maps full-width %uFF1C to < and keeps the low byte of other code points', () => {
    expect(t('urlDecodeUni', '%uFF1Cscript%uFF1E%u4E2D')).toBe('<script>\x2d')
  })

  it('urlDecode leaves %u sequences alone', () => {
    expect(t('urlDecode', '%u0041%41')).toBe('%u0041A')
  })

  it('returns the very same string when there is nothing to decode', () => {
    const input = 'plain text without escapes'
    expect(t('urlDecodeUni', input)).toBe(input)
    expect(t('htmlEntityDecode', input)).toBe(input)
    expect(t('jsDecode', input)).toBe(input)
  })
})

describe('utf8toUnicode', () => {
  it('writes two-byte UTF-8 as %uHHHH in lower-case hex, as the ModSecurity vectors do', () => {
    expect(t('utf8toUnicode', '\xc3\x90\xc2\x80 \xc3\x90')).toBe('%u00d0%u0080 %u00d0')
  })

  it('writes a full-width < (EF BC 9C) as %uff1c, which urlDecodeUni turns into <', () => {
    expect(t('utf8toUnicode', '\xef\xbc\x9cscript')).toBe('%uff1cscript')
    expect(t('urlDecodeUni', t('utf8toUnicode', '\xef\xbc\x9cscript\xef\xbc\x9e'))).toBe('<script>')
  })

  it('writes a four-byte sequence with five hex digits', () => {
    expect(t('utf8toUnicode', '\xf0\x9f\x98\x80')).toBe('%u1f600')
  })

  it('drops the lead byte of a sequence whose continuation is missing and copies stray bytes', () => {
    expect(t('utf8toUnicode', 'a\xc3b\x80c')).toBe('ab\x80c')
  })

  it('leaves pure ASCII unchanged', () => {
    expect(t('utf8toUnicode', 'ascii only')).toBe('ascii only')
  })
})

describe('case', () => {
  it('lowercase changes only A-Z, as C tolower() does in the C locale', () => {
    expect(t('lowercase', 'SeLeCT \xc0\xc9')).toBe('select \xc0\xc9')
  })

  it('uppercase changes only a-z and leaves ß and ÿ as single bytes', () => {
    expect(t('uppercase', 'select \xdf\xff')).toBe('SELECT \xdf\xff')
  })
})

describe('whitespace, NULs and trims', () => {
  it('removeWhitespace deletes C whitespace and the non-breaking space 0xA0', () => {
    expect(t('removeWhitespace', ' s\te\nl\x0be\fc\rt\xa0 ')).toBe('select')
  })

  it('removeNulls deletes NUL bytes and replaceNulls turns them into spaces', () => {
    expect(t('removeNulls', 'a\x00b\x00')).toBe('ab')
    expect(t('replaceNulls', 'a\x00b\x00')).toBe('a b ')
  })

  it('trimLeft and trimRight trim one side each', () => {
    expect(t('trimLeft', ' \t a \n')).toBe('a \n')
    expect(t('trimRight', ' \t a \n')).toBe(' \t a')
  })

  it('trim leaves the non-breaking space 0xA0 alone', () => {
    expect(t('trim', '\xa0a\xa0')).toBe('\xa0a\xa0')
  })

  it('removeComments cuts the rest of the input at -- and #', () => {
    expect(t('removeComments', "1' or 1=1 -- x")).toBe("1' or 1=1 ")
    expect(t('removeComments', 'a#b')).toBe('a')
  })
})

describe('cmdLine', () => {
  it('removes quotes, carets and backslashes and lower-cases', () => {
    expect(t('cmdLine', 'C^O^M^S^P^E^C "wh"o\\a\'mi')).toBe('comspec whoami')
  })

  it('collapses runs of space, comma, semicolon, tab and newlines to one space', () => {
    expect(t('cmdLine', 'a ,;\t\r\n b')).toBe('a b')
  })

  it('deletes the space before / and (', () => {
    expect(t('cmdLine', 'cmd /c dir ("x")')).toBe('cmd/c dir(x)')
  })
})

describe('hex, base64 and length', () => {
  it('hexEncode writes each byte as two lower-case digits', () => {
    expect(t('hexEncode', 'Az\x00\xff')).toBe('417a00ff')
  })

  it('base64Decode stops at the first char outside the alphabet', () => {
    expect(t('base64Decode', 'VGVzdA!!ENhc2U=')).toBe('Test')
  })

  it('base64Encode pads with =', () => {
    expect(t('base64Encode', 'TestCase12')).toBe('VGVzdENhc2UxMg==')
  })

  it('length counts bytes', () => {
    expect(t('length', '')).toBe('0')
    expect(t('length', 'caf\xc3\xa9')).toBe('5')
  })
})

describe('hashes', () => {
  const samples = ['', 'TestCase', '\x00\x01\x02\x03\x04\x05\x06\x07\x08', 'a'.repeat(55), 'b'.repeat(56), 'c'.repeat(64), ALL_BYTES.repeat(3)]

  it('sha1 of an empty input is da39a3ee5e6b4b0d3255bfef95601890afd80709 (hex)', () => {
    expect(t('hexEncode', t('sha1', ''))).toBe('da39a3ee5e6b4b0d3255bfef95601890afd80709')
  })

  it('md5 of "abc" is 900150983cd24fb0d6963f7d28e17f72 (hex)', () => {
    expect(t('hexEncode', t('md5', 'abc'))).toBe('900150983cd24fb0d6963f7d28e17f72')
  })

  for (const algorithm of ['sha1', 'md5'] as const) {
    it(`${algorithm} returns the raw digest bytes that node:crypto computes, across block boundaries`, () => {
      for (const sample of samples) {
        const expected = createHash(algorithm).update(Buffer.from(sample, 'latin1')).digest().toString('latin1')
        expect(t(algorithm, sample)).toBe(expected)
      }
    })
  }
})

describe('parity', () => {
  it('parityEven7bit, parityOdd7bit and parityZero7bit set or clear bit 7', () => {
    expect(t('parityEven7bit', 'ab')).toBe('\xe1\xe2')
    expect(t('parityOdd7bit', 'ab')).toBe('ab')
    expect(t('parityZero7bit', '\xe1\xe2')).toBe('ab')
  })
})

describe('the table', () => {
  it('holds every transformation the CRS uses in request rules, under its lower-cased name', () => {
    for (const name of ['none', 'lowercase', 'urlDecode', 'urlDecodeUni', 'htmlEntityDecode', 'jsDecode', 'cssDecode', 'removeNulls', 'removeWhitespace', 'compressWhitespace', 'replaceComments',
      'normalisePath', 'normalizePath', 'normalizePathWin', 'cmdLine', 'base64Decode', 'hexEncode', 'utf8toUnicode', 'length', 'sha1']) {
      expect(typeof TRANSFORMATIONS[name.toLowerCase()]).toBe('function')
    }
  })

  it('names nothing inherited from Object.prototype', () => {
    expect(TRANSFORMATIONS['constructor']).toBeUndefined()
    expect(TRANSFORMATIONS['tostring']).toBeUndefined()
  })

  it('never throws and always returns a byte string, whatever the input', () => {
    let seed = 7
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
    const alphabet = '%u+&#;x\\/.0aF9 \t\n\x00\xa0\xff\xc3\xef\xbc<>*-"\''
    for (let round = 0; round < 300; round++) {
      let input = ''
      for (let k = 0; k < 24; k++) input += alphabet[Math.floor(random() * alphabet.length)]
      for (const [name, transformation] of Object.entries(TRANSFORMATIONS)) {
        const output = transformation(input)
        expect(/^[\x00-\xff]*$/.test(output), `${name}(${JSON.stringify(input)})`).toBe(true)
      }
    }
  })
})

describe('toByteString', () => {
  it('keeps a byte string as it is and turns wider chars into their UTF-8 bytes', () => {
    expect(toByteString('caf\xe9')).toBe('caf\xe9')
    expect(toByteString('€')).toBe('\xe2\x82\xac')
  })
})
