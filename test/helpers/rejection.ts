import { expect } from 'vitest'

/** Asserts a rejection: status, stable `x-wsgate-error` code and a one-line `text/plain` reason. */
export async function expectRejection(response: Response, status: number, code: string, reason: RegExp): Promise<void> {
  expect(response.status).toBe(status)
  expect(response.headers.get('x-wsgate-error')).toBe(code)
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/)
  const body = await response.text()
  expect(body).toMatch(reason)
  expect(body.trimEnd().split('\n')).toHaveLength(1)
}
