import http from 'node:http'

/** One answer of the admin listener. */
export interface AdminResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/**
 * One request to an admin listener (or any HTTP server), on a connection of
 * its own (no keep-alive pool outlives the test), with `Authorization:
 * Bearer <token>` when a token is given, another `Host` when one is, and a
 * body when one is.
 */
export function adminRequest(baseUrl: string, path: string, options: { method?: string; token?: string; host?: string; body?: string } = {}): Promise<AdminResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }
    if (options.host !== undefined) headers.host = options.host
    const request = http.request(new URL(path, baseUrl), { method: options.method ?? 'GET', headers, agent: false }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }))
    })
    request.on('error', reject)
    request.end(options.body)
  })
}

/** The JSON body of a GET that must answer 200. */
export async function adminJson<T>(baseUrl: string, path: string, token?: string): Promise<T> {
  const response = await adminRequest(baseUrl, path, token === undefined ? {} : { token })
  if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${response.body}`)
  return JSON.parse(response.body) as T
}

/** `GET /metrics` of an admin listener, as text. */
export async function scrape(adminUrl: string, token?: string): Promise<string> {
  const response = await adminRequest(adminUrl, '/metrics', token === undefined ? {} : { token })
  if (response.status !== 200) throw new Error(`GET /metrics: ${response.status} ${response.body}`)
  return response.body
}

/** Every sample of `name` in Prometheus text format, as label sets with their values. */
export function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const found: { labels: Record<string, string>; value: number }[] = []
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match || match[1] !== name) continue
    const pairs = [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)]
    const labels = Object.fromEntries(pairs.map(([, key, value]) => [key!, value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))]))
    found.push({ labels, value: Number(match[3]) })
  }
  return found
}

/**
 * The value of the sample of `name` whose labels are exactly `labels`;
 * undefined when there is no such sample.
 *
 * @example
 * sample(text, 'wsgate_handshakes_total', { route: '/echo', status: '101', code: '' }) // 2
 */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const keys = Object.keys(labels)
  const match = samples(text, name).find((entry) => Object.keys(entry.labels).length === keys.length && keys.every((key) => entry.labels[key] === labels[key]))
  return match?.value
}
