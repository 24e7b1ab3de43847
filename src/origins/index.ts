/**
 * Origin pools: `origins(targets, options)` and what its pool reports.
 * Portable: no `node:` import.
 * @module
 */
export {
  origins,
  OriginPool,
  type OriginChange,
  type OriginHealth,
  type OriginPoolHost,
  type OriginProbeOptions,
  type OriginsOptions,
  type OriginStatus,
  type OriginStrategy,
  type OriginTarget,
  type OriginTargetOptions,
  type PoolTimers,
  type ProbeRequest,
  type ProbeResult,
} from './pool.ts'
