import { describe, expect, it } from 'vitest'
import { ipMatch } from '../../../../middleware/waf/operators/ip.ts'
import { cidrMatcher } from '../../../../src/cidr.ts'
import { seededRandom } from '../crs-patterns.ts'

const LISTS = [
  ['127.0.0.1', '::1'],
  ['10.0.0.0/8', '192.168.0.0/16', '2001:db8::/32'],
  ['::/0'],
  ['::ffff:0:0/96'],
  ['::ffff:10.0.0.0/104', 'fe80::/10'],
  ['0.0.0.0/0'],
]

/** Addresses in the forms REMOTE_ADDR takes and around them: plain, mapped, compressed at every place, edge cases. */
function addresses(): string[] {
  const random = seededRandom(0x1b)
  const hex = () => Math.floor(random() * 0x10000).toString(16)
  const out = ['127.0.0.1', '::1', '0:0:0:0:0:0:0:1', '::', '::ffff:127.0.0.1', '::ffff:7f00:1', '::FFFF:7F00:1', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1::2::3', '1:2:3:4:5:6:7:8::', ':::', '1:2:3:4:5:6:7:8:9', '00001::1', '2001:DB8::1', '127.0.0.01', '256.1.1.1', '1.2.3', 'fe80::1%eth0', ' 10.1.2.3 ', '']
  for (let i = 0; i < 3000; i++) {
    out.push([0, 0, 0, 0].map(() => Math.floor(random() * 256)).join('.'))
    const groups = Array.from({ length: 8 }, () => (random() < 0.4 ? '0' : hex()))
    if (random() < 0.2) groups.splice(0, 6, '0', '0', '0', '0', '0', 'ffff')
    const at = Math.floor(random() * 8)
    const length = Math.floor(random() * (8 - at))
    out.push(length > 0 && random() < 0.7 ? `${groups.slice(0, at).join(':')}::${groups.slice(at + length).join(':')}` : groups.join(':'))
  }
  return out
}

describe('@ipMatch reads plain addresses itself, with the CIDR matcher’s answers', () => {
  it('matches exactly what the CIDR matcher matches, for every list and address', () => {
    const wrong: string[] = []
    for (const list of LISTS) {
      const operator = ipMatch(list.join(','), {})
      const matcher = cidrMatcher(list)
      for (const address of addresses()) {
        if ((operator(address, (text) => text) !== null) !== matcher.matches(address.trim())) wrong.push(`${list.join(',')} ${address}`)
      }
    }
    expect(wrong).toEqual([])
  })
})
