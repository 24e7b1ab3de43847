/**
 * The WAF's building blocks as the compiler and engine take them: the
 * operator and transformation tables, the PCRE translator and the
 * collection builder. Gathered here so that `compile.ts` and `engine.ts`
 * depend on the {@link Primitives} interface only (their tests run with
 * small stand-ins). Portable: no `node:` import.
 */
import { buildCollections, COLLECTION_NAMES } from './engine/collections.ts'
import type { Primitives } from './rules/compile.ts'
import { OPERATORS } from './operators/index.ts'
import { translateRegex } from './regex/regex.ts'
import { TRANSFORMATIONS } from './transformations/index.ts'

/** The real primitives. */
export const PRIMITIVES: Primitives = Object.freeze({
  operators: OPERATORS,
  transformations: TRANSFORMATIONS,
  translateRegex: (pcre: string, options?: { caseless?: boolean }) => translateRegex(pcre, options?.caseless ? { caseless: true } : {}),
  buildCollections,
  variables: COLLECTION_NAMES,
})
