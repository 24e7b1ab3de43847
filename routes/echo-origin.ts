/**
 * The demo's echo origin, started once per process. A module of its own so
 * that a SIGHUP reload, which imports routes/index.ts again, reuses it
 * instead of starting one more (a reload re-runs the routes module, not the
 * modules it imports).
 */
import { startEchoOrigin } from '../src/node/index.ts'

/** The running echo origin (`ECHO_PORT`, else a free port on 127.0.0.1). */
export const echo = await startEchoOrigin({ port: Number(process.env.ECHO_PORT ?? 0) })
