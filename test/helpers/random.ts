/** mulberry32: a tiny seeded pseudo-random generator, uniform in [0, 1), so corpora and streams are the same on every run. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * `count` texts of 0 to `maxLength` characters, each drawn from `alphabet`
 * by a {@link mulberry32} generator seeded with `seed`: the same texts on
 * every run.
 */
export function randomTexts(seed: number, alphabet: readonly string[], count: number, maxLength: number): string[] {
  const random = mulberry32(seed)
  const out: string[] = []
  for (let i = 0; i < count; i++) {
    let text = ''
    for (let j = 0, length = Math.floor(random() * (maxLength + 1)); j < length; j++) text += alphabet[Math.floor(random() * alphabet.length)]
    out.push(text)
  }
  return out
}
