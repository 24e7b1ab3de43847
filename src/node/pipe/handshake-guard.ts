/**
 * The `'error'` listener a socket carries from its handshake until the pipe
 * adds its own: without one, an error in between (a reset while the chain
 * runs) would crash the process. The pipe takes it off again once its own
 * listener is on, because an event with two listeners holds them in an
 * array (about 100 bytes per socket, two sockets per idle connection), and
 * one with a single listener holds just the function.
 *
 * One module-level function for every socket, so that it holds nothing of
 * the handshake that added it and the pipe can name it to remove it.
 *
 * @example
 * socket.on('error', ignoreHandshakeError)   // at the handshake
 * socket.on('error', onError)                // the pipe…
 * socket.off('error', ignoreHandshakeError)  // …then drops the guard
 */
export function ignoreHandshakeError(): void {}
