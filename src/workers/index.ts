/**
 * wsgate's Cloudflare Workers host: the same routes and handshake
 * middleware as on Node, with Cloudflare running the pipe after the
 * upgrade. See the README's "Deploy to Cloudflare Workers".
 * @module
 */
export { workersGateway, WORKERS_CAPABILITIES, type WorkersApp, type WorkersGatewayOptions, type WorkersHandler } from './gateway.ts'
export { WorkersGatewayRuntime, type WorkersRequestFacts } from './runtime.ts'
export { connectWorkersOrigin, type WorkersOriginTunnel, type WorkersWebSocket } from './origin.ts'
export { consoleLogger, type WorkersLogger, type WorkersLogLevel } from './log.ts'
