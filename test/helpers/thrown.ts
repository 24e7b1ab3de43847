/**
 * What `fn` threw (undefined when it did not throw), for asserting on an
 * error's class and fields rather than only its message.
 *
 * @example
 * expect(thrown(() => parse('bad'))).toMatchObject({ status: 400, code: 'ERR_HANDSHAKE_MALFORMED' })
 */
export function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  return undefined
}
