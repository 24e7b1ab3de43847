/**
 * `wsgate start --workers N`: one gateway process per core. A node:cluster
 * primary forks N workers, each running the whole gateway (`serve()`) on the
 * same port (and TLS port); the primary accepts connections and hands them
 * to the workers in turn. It serves nothing itself: it replaces a worker
 * that dies (at once, or with a growing wait when workers keep dying before
 * they listen), forwards SIGTERM, SIGINT and SIGHUP to every worker, and
 * exits once they all have. Each worker's log lines carry its `worker` id.
 */
import cluster, { type Worker } from 'node:cluster'
import os from 'node:os'
import { DEFAULT_WORKER_RESTART_BACKOFF } from '../defaults.ts'
import type { Logger } from './log.ts'
import { whenParentExits } from './parent-watch.ts'

/** The first wait before replacing a worker that died before it listened (ms); doubled per such death in a row. */
const FIRST_RESTART_DELAY = 100

/** Options of {@link runPrimary}. */
export interface PrimaryOptions {
  /** Workers to keep running. */
  workers: number
  /** Where the primary's own lines go (worker started, exited, replaced; shutting down). */
  logger: Logger
  /** Longest wait before replacing a worker that keeps dying before it listens, ms. @default 10 s */
  maxRestartDelay?: number
}

/**
 * The `--workers` value as a count: a positive integer, or `auto` for one
 * per core (`os.availableParallelism()`). Throws a `TypeError` naming the flag.
 *
 * @example
 * workerCount('auto') // 8 on an 8-core host
 * workerCount('2') // 2
 */
export function workerCount(value: string): number {
  if (value === 'auto') return Math.max(1, os.availableParallelism())
  const count = Number(value)
  if (!Number.isInteger(count) || count < 1 || count > 1_024) {
    throw new TypeError(`--workers expects a number of processes from 1 to 1024, or auto (one per core), got "${value}"`)
  }
  return count
}

/** What a worker sends its primary once its signal handlers are on (see {@link announceReady}). */
const READY = 'wsgate:worker-ready'

/**
 * Tells the primary (in a worker; elsewhere nothing) that this worker now
 * handles SIGTERM, SIGINT and SIGHUP itself. Until then a signal would
 * kill it (Node's default action), so the primary holds a SIGHUP back
 * until this message and does not count a worker that a stop signal
 * killed before it as a failure. Call it once the handlers are installed.
 *
 * @example
 * stopOnSignals(gateway, logger)
 * reloadOnHangup(gateway, routesPath, logger)
 * announceReady()
 */
export function announceReady(): void {
  if (cluster.isWorker) process.send?.(READY)
}

/** Whether this process is a worker forked by a `--workers` primary. */
export function isWorker(): boolean {
  return cluster.isWorker
}

/**
 * The logger a gateway process writes with: in a worker, every line carries
 * `worker` (the primary's id for it, 1, 2, …; a replacement gets a new one);
 * elsewhere the logger as it is.
 *
 * @example
 * const logger = workerLogger(createLogger())
 * logger.info('gateway listening') // {"worker":2,"pid":4242,…,"msg":"gateway listening"}
 */
export function workerLogger(logger: Logger): Logger {
  return cluster.isWorker && cluster.worker ? logger.child({ worker: cluster.worker.id }) : logger
}

/**
 * Runs the primary of `wsgate start --workers N`: forks the workers (each
 * runs this same command and becomes a gateway), keeps N of them running,
 * and on SIGTERM or SIGINT forwards the signal to every worker (each drains
 * on its own) and exits once all have exited: 0 when every worker exited 0,
 * else 1 (a worker still starting, which the signal kills, counts as 0).
 * A second signal is forwarded too (workers then stop at once). SIGHUP is
 * forwarded (routes and certificate reload); a worker still starting gets
 * it once it is ready ({@link announceReady}). When npm started it and its
 * parent goes away (npx: the shell between them died of the forwarded
 * signal), it stops as on SIGTERM (see parent-watch.ts). Resolves when the
 * primary is about to exit.
 *
 * @example
 * if (values.workers !== undefined && !isWorker()) return runPrimary({ workers: workerCount(values.workers), logger })
 */
export function runPrimary(options: PrimaryOptions): Promise<number> {
  const { workers, logger } = options
  const maxRestartDelay = options.maxRestartDelay ?? DEFAULT_WORKER_RESTART_BACKOFF
  if (!cluster.isPrimary) throw new Error('runPrimary() runs in the primary process only')
  // Connections go to the workers in turn (Linux's default too; Windows' is the OS's choice).
  cluster.schedulingPolicy = cluster.SCHED_RR
  let stopping: NodeJS.Signals | undefined
  let failed = false
  /** Deaths in a row of workers that never listened: the wait before the next replacement grows with them. */
  let earlyDeaths = 0
  const listening = new WeakSet<Worker>()
  /** Workers whose signal handlers are on (announceReady()); a signal kills one that is still starting. */
  const ready = new WeakSet<Worker>()
  /** Starting workers a SIGHUP came for: it is passed on once they are ready. */
  const reloadOwed = new WeakSet<Worker>()
  const restarts = new Set<NodeJS.Timeout>()
  /**
   * The workers running or starting. Kept here, not read from
   * `cluster.workers`: a worker whose process the system could not start
   * (EMFILE) gets an 'error' and no 'exit', and stays there for good.
   */
  const live = new Set<Worker>()

  return new Promise((resolve) => {
    /** The wait before replacing a worker that never listened (or never started): doubled with each such death in a row. */
    const earlyDeathDelay = (): number => Math.min(maxRestartDelay, FIRST_RESTART_DELAY * 2 ** earlyDeaths++)

    /** Starts a worker after `delay` ms, unless the primary is stopping by then. */
    const forkLater = (delay: number): void => {
      const timer = setTimeout(() => {
        restarts.delete(timer)
        if (!stopping) fork()
      }, delay)
      restarts.add(timer)
    }

    /** A worker has exited, or its process could not be started: replaced, or counted towards the stop. */
    const gone = (worker: Worker, code: number | null, signal: string | null): void => {
      if (!live.delete(worker)) return
      // `workerPid`, not `pid`: pino writes the primary's own `pid` in every line, and a second key of that name breaks log pipelines.
      const fields = { worker: worker.id, workerPid: worker.process.pid, code, signal: signal ?? undefined }
      if (stopping) {
        // A worker still starting has no handler yet and dies of the stop signal itself (or never ran): it held no connection, nothing failed.
        const heldNothing = !ready.has(worker) && (signal === stopping || !worker.process.pid)
        if (code !== 0 && !heldNothing) failed = true
        logger.info(fields, 'worker exited')
        if (live.size === 0) {
          logger.info({ signal: stopping, code: failed ? 1 : 0 }, 'all workers exited')
          resolve(failed ? 1 : 0)
        }
        return
      }
      // A worker that dies before it listens (a broken routes module, a port in use) would die again at once.
      const early = !listening.has(worker)
      const delay = early ? earlyDeathDelay() : 0
      logger.warn({ ...fields, restartIn: delay }, early ? 'worker died before listening; starting a replacement' : 'worker died; starting a replacement')
      forkLater(delay)
    }

    function fork(): void {
      let worker: Worker
      try {
        worker = cluster.fork()
      } catch (error) {
        // The system would not start a process now: thrown out of a timer, this would end the primary and every worker with it.
        const delay = earlyDeathDelay()
        logger.error({ err: error, restartIn: delay }, 'could not start a worker; trying again')
        forkLater(delay)
        return
      }
      live.add(worker)
      logger.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker started')
      // Unheard, an 'error' (a process the system could not start for want of descriptors, EMFILE; a failed signal) would
      // end the primary and every worker with it. A process that never started has no pid and will have no 'exit'.
      worker.on('error', (error: NodeJS.ErrnoException) => {
        logger.error({ worker: worker.id, err: error }, 'worker process error')
        if (!worker.process.pid) gone(worker, worker.process.exitCode, null)
      })
      worker.once('listening', () => {
        listening.add(worker)
        earlyDeaths = 0
      })
      worker.on('message', (message: unknown) => {
        if (message !== READY) return
        ready.add(worker)
        if (reloadOwed.has(worker) && !stopping) {
          reloadOwed.delete(worker)
          worker.process.kill('SIGHUP')
        }
      })
    }

    cluster.on('exit', (worker, code, signal) => gone(worker, code, signal))

    // Under npm, a shell between npm and the primary dies of the signal npm forwards, and the primary never hears it.
    const stopWatchingParent = whenParentExits((parent) => forward('SIGTERM', { parentExited: parent }))
    const forward = (signal: NodeJS.Signals, cause?: { parentExited: number }): void => {
      const first = !stopping
      stopping ??= signal
      if (first) {
        stopWatchingParent()
        for (const timer of restarts) clearTimeout(timer)
        restarts.clear()
        logger.info({ signal, ...cause, workers: live.size }, 'stopping workers')
      }
      if (live.size === 0) {
        resolve(failed ? 1 : 0)
        return
      }
      for (const worker of live) worker.process.kill(signal)
    }
    process.on('SIGTERM', () => forward('SIGTERM'))
    process.on('SIGINT', () => forward('SIGINT'))
    process.on('SIGHUP', () => {
      for (const worker of live) {
        // A starting worker would die of it (no handler yet; systemctl reload right after a start or a replacement).
        if (ready.has(worker)) worker.process.kill('SIGHUP')
        else reloadOwed.add(worker)
      }
    })

    logger.info({ workers }, 'cluster primary started')
    for (let i = 0; i < workers; i++) fork()
  })
}
