/**
 * Noticing that the process npm started us through has gone. npm (`npm
 * start`, `npx`) forwards SIGTERM and SIGINT to its child only; when that
 * child is a shell running the command (a script without `exec`, npx), the
 * shell dies of the signal and the gateway never hears it. Left running, it
 * would hold the port. Both the single gateway process (cli.ts) and a
 * `--workers` primary (cluster.ts) stop when this says so.
 */

/** How often a process npm started checks that its parent is still there (ms). */
export const PARENT_CHECK_INTERVAL = 1_000

/**
 * When npm started this process (`npm_lifecycle_event` is set), calls
 * `onExit` once with the PID of the parent it had, at the first check after
 * that parent has gone (the process was reparented). Elsewhere it does
 * nothing: a gateway started in the background by a shell that then exits
 * is meant to live on. The check never keeps the process alive. Returns a
 * function that stops watching.
 *
 * @example
 * const stopWatching = whenParentExits((parent) => stop({ parentExited: parent }))
 */
export function whenParentExits(onExit: (parent: number) => void): () => void {
  if (process.env.npm_lifecycle_event === undefined) return () => {}
  const parent = process.ppid
  const timer = setInterval(() => {
    if (process.ppid === parent) return
    clearInterval(timer)
    onExit(parent)
  }, PARENT_CHECK_INTERVAL).unref()
  return () => clearInterval(timer)
}
