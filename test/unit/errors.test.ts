import { describe, expect, it } from 'vitest'
import { ERROR_HEADER, GatewayError } from '../../src/errors.ts'

// An origin's own x-wsgate-error is dropped where the connectors read its answer: test/node/error-header.test.ts.

describe('ERROR_HEADER', () => {
  it("leaves the gateway's own refusals their code", () => {
    const refusal = new GatewayError(429, 'ERR_RATE_LIMITED', 'slow down').getResponse()
    expect(refusal.headers.get(ERROR_HEADER)).toBe('ERR_RATE_LIMITED')
  })
})
