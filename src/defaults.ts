/**
 * Every default number in wsgate, with its unit and the reason for it.
 * Options share these names everywhere (gateway-wide in `serve()`, per route
 * in `websocket()`), and the README's table of defaults mirrors this file.
 */

/** Close a piped connection after this long without a byte in either direction (ms). Azure Front Door: 5 min. */
export const DEFAULT_IDLE_TIMEOUT = 5 * 60_000

/** Recycle a piped connection after this long (ms). Azure Front Door: 4 h (Azion recycles at ~15 min). */
export const DEFAULT_MAX_LIFETIME = 4 * 60 * 60_000

/**
 * Spread of the lifetime, as a fraction either way (0.05 = ±5 %), so that a
 * fleet started together does not make every client reconnect in the same second.
 */
export const DEFAULT_LIFETIME_JITTER = 0.05

/**
 * Time a client has to finish its request headers, and an origin has to answer
 * the upgrade (ms). Guards against slowloris clients and dead origins.
 */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000

/**
 * How long a keep-alive connection may wait idle between a response and the
 * next request (ms): Node's default, 5 s, or the handshake timeout when that
 * is shorter (a connection waits for its next request no longer than a new
 * one waits for its first). Node closes the connection 1 s after it.
 */
export const DEFAULT_KEEP_ALIVE_TIMEOUT = 5_000

/**
 * Longest interval between the checks of the header deadline of keep-alive
 * requests (ms); a tenth of the handshake timeout when that is shorter. A
 * late keep-alive request is answered 408 at most this long after its
 * deadline; Node's own default, 30 s, let one live 40 s.
 */
export const DEFAULT_HEADERS_CHECK_INTERVAL = 1_000

/**
 * Time a plain HTTP request (not a WebSocket handshake) has to arrive in
 * full, head and body, from its first byte (ms): Node's own default, 5 min,
 * or the handshake timeout when that is longer. Past it the request gets
 * 408 `ERR_REQUEST_TIMEOUT` (or, once its response has begun, is cut off),
 * so that a client trickling a body cannot hold a connection, an HTTP/2
 * stream and the origin request behind it for ever. Raise it for routes
 * that take long uploads.
 */
export const DEFAULT_REQUEST_TIMEOUT = 300_000

/** Concurrent WebSocket connections per gateway process; beyond it 503. Azure Front Door: 3,000 per profile. */
export const DEFAULT_MAX_CONNECTIONS = 3_000

/**
 * Share of `maxConnections` one client address (an IPv6 client's /64) may
 * hold, open plus handshaking, when `maxConnectionsPerClient` is not set:
 * 10 %, 300 of the default 3,000. Without it one address holding idle
 * connections locks every other client out with 503; with it at least ten
 * addresses are needed, and a NAT or office behind one address still gets
 * hundreds.
 */
export const DEFAULT_MAX_CONNECTIONS_PER_CLIENT_SHARE = 0.1

/**
 * Handshakes one client address may have in flight at once (from the upgrade
 * request to its answer). A page opens a few sockets at once and an origin
 * answers in milliseconds, so even a NAT'd office reconnecting after a
 * deploy rarely has more in flight; 30 held on a dead origin are 1 % of the
 * default gateway cap.
 */
export const DEFAULT_MAX_HANDSHAKES_PER_CLIENT = 30

/**
 * Plain HTTP requests (not WebSocket upgrades) one client address (an IPv6
 * client's /64) may have in flight at once in a gateway process, across
 * HTTP/1.1 and HTTP/2, from its accepted head until its response has been
 * sent (a long download holds its slot throughout). A browser opens at most
 * 6 HTTP/1.1 connections per host and multiplexes 100 or so streams on one
 * HTTP/2 connection, so even a few users behind one NAT rarely pass a few
 * dozen at once; 100 is beyond that, yet well below what one HTTP/2
 * connection alone could otherwise open (256 streams,
 * `DEFAULT_H2_MAX_CONCURRENT_STREAMS`), so one address cannot hold the
 * gateway's origin requests and sockets for everyone else.
 */
export const DEFAULT_MAX_REQUESTS_PER_CLIENT = 100

/**
 * Share of `maxConnections` that one route's handshakes waiting for their
 * origin's answer may hold, when `maxHandshakesPerRoute` is not set: 10 %,
 * 300 of the default 3,000. A live origin answers in milliseconds, so 300 in
 * flight is far above a healthy route's need (thousands of handshakes a
 * second); an origin that never answers holds at most that many slots until
 * they time out, and every other route keeps the rest of the cap.
 */
export const DEFAULT_MAX_HANDSHAKES_PER_ROUTE_SHARE = 0.1

/**
 * Bits of an IPv6 client address that name one client for the per-client
 * caps: a host is usually given a whole /64 (RFC 6177), so counting single
 * addresses would let it take a fresh one per connection.
 */
export const DEFAULT_IPV6_PREFIX = 64

/** Largest request header section accepted (bytes); beyond it 431. The limit of nginx's large buffers and of Node. */
export const DEFAULT_MAX_HEADER_SIZE = 16 * 1024

/** Longest request-target accepted (bytes); beyond it 414. What nginx's default buffers hold (large_client_header_buffers 8k). */
export const DEFAULT_MAX_URI_LENGTH = 8 * 1024

/** `Retry-After` sent with a 503 when the connection cap is reached, and with a 429 or 503 of the fair-share caps (seconds). Long enough to spread reconnects. */
export const DEFAULT_RETRY_AFTER = 5

/**
 * After one side of a pipe has ended, how long the other side may keep its
 * half open to flush before both are destroyed (ms). WebSocket peers close
 * both halves within a round trip; this only bounds misbehaving ones.
 */
export const DEFAULT_HALF_CLOSE_TIMEOUT = 5_000

/**
 * After the gateway sent its close frames (idle, lifetime, drain, shutdown,
 * token expiry), how long the peers have to answer with theirs before both
 * sockets are destroyed (ms). A close handshake takes one round trip; 5 s
 * covers slow mobile links without holding a draining gateway long.
 */
export const DEFAULT_CLOSE_GRACE = 5_000

/**
 * Window over which a draining gateway (`gateway.close({ drain: true })`,
 * SIGTERM, SIGINT) closes its open connections, one after another at even
 * intervals (ms): 30 s, so 3,000 clients reconnect at about 100 a second
 * instead of all in the same second, and the whole stop (window plus
 * `closeGrace`, 35 s) still fits systemd's default stop timeout (90 s).
 * Docker's `docker stop` (10 s) and Kubernetes' termination grace period
 * (30 s) are shorter: raise them, or lower this (see the README).
 */
export const DEFAULT_DRAIN_TIMEOUT = 30_000

/** Weight of an origin in a pool when its target does not say. Equal weights share traffic equally. */
export const DEFAULT_ORIGIN_WEIGHT = 1

/** Priority of an origin in a pool when its target does not say (lower number = preferred). Azure Front Door's default, 1. */
export const DEFAULT_ORIGIN_PRIORITY = 1

/**
 * Further origins a handshake (or an idempotent plain request without a
 * body) tries after a refused, reset or timed-out one, within the handshake
 * timeout: 2, so a pool of three is tried whole, and one dead origin costs a
 * client a retry, not an error.
 */
export const DEFAULT_ORIGIN_RETRIES = 2

/** Path a health probe requests on each origin: the root, which every HTTP server answers somehow. */
export const DEFAULT_PROBE_PATH = '/'

/**
 * Time between two health probes of one origin (ms): 10 s, so probes alone
 * take a dead origin out within about 30 s (3 failures); passive health
 * takes it out at its first failed handshakes. A probe a second per origin
 * per gateway would be noise in the origin's logs.
 */
export const DEFAULT_PROBE_INTERVAL = 10_000

/** Time one probe may take before it counts as failed (ms): 2 s, far above a healthy origin's answer on a LAN. */
export const DEFAULT_PROBE_TIMEOUT = 2_000

/** Probe answers that count as healthy, inclusive: 200–399, as Azure Front Door and HAProxy judge them. */
export const DEFAULT_PROBE_EXPECT: readonly [min: number, max: number] = [200, 399]

/** Consecutive failures (probes or handshakes) that take an origin down: HAProxy's default, 3. One lost packet does not. */
export const DEFAULT_PROBE_FALL = 3

/** Consecutive successful probes that bring a down origin back up: HAProxy's default, 2. A flapping origin must answer twice. */
export const DEFAULT_PROBE_RISE = 2

/**
 * Without probes (or before they start), how long an origin that passive
 * health took down gets no connections (ms). Then it is tried again, and its
 * next failure takes it down at once: nginx's `fail_timeout`, 10 s.
 */
export const DEFAULT_ORIGIN_COOLDOWN = 10_000

/** Port the gateway listens on when neither `--port` nor `PORT` says otherwise. */
export const DEFAULT_PORT = 8080

/** Address the gateway binds when neither `--host` nor `HOST` says otherwise: loopback, so nothing is exposed by accident. */
export const DEFAULT_HOST = '127.0.0.1'

/**
 * Port of the TLS listener (`wss://`, `https://`) when `tls.port` /
 * `--tls-port` does not say: the usual unprivileged stand-in for 443 (bind
 * 443 itself where the process may, or forward 443 to it).
 */
export const DEFAULT_TLS_PORT = 8443

/**
 * Whether the TLS listener offers HTTP/2 (ALPN `h2`, WebSockets over
 * HTTP/2 by RFC 8441) beside HTTP/1.1 when `tls.http2` / `--h2` / `--no-h2`
 * do not say. On: a browser whose page came from the gateway over h2 opens
 * its WebSockets on that same connection, and a client that offers only
 * `http/1.1` (or no ALPN at all, as `ws` and Node's `https` do) is served
 * HTTP/1.1 exactly as without it. Turn it off for a client that offers
 * `h2` by ALPN and then speaks HTTP/1.1 anyway.
 */
export const DEFAULT_TLS_HTTP2 = true

/**
 * After a watched certificate or key file changes, how long to wait for
 * further changes before reloading (ms). Renewal tools write the
 * certificate and the key as two files, often through a rename each: one
 * reload after both, rather than a failed one between them.
 */
export const DEFAULT_CERTIFICATE_RELOAD_DELAY = 250

/**
 * Total bytes a `cache()` holds (bodies plus headers plus a fixed overhead
 * per entry), 64 MiB: enough for a route's hot responses, small enough that
 * a few cached routes cannot exhaust a gateway's heap.
 */
export const DEFAULT_CACHE_MAX_SIZE = 64 * 1024 * 1024

/**
 * Largest single response a `cache()` stores, 8 MiB (or `maxSize` when that
 * is smaller): bigger downloads stream through uncached instead of pushing
 * out hundreds of small hot entries.
 */
export const DEFAULT_CACHE_MAX_ENTRY_SIZE = 8 * 1024 * 1024

/** How long fetched JWKS keys are trusted before the next token fetches them again (ms). jose's default: 10 min. */
export const DEFAULT_JWKS_CACHE_MAX_AGE = 10 * 60_000

/**
 * After a JWKS fetch, how long an unknown `kid` is rejected without fetching
 * again (ms). jose's default: 30 s. Bounds the fetches that tokens with
 * made-up `kid`s can cause to one per period; a rotated-in key is found at the
 * first token after it.
 */
export const DEFAULT_JWKS_COOLDOWN = 30_000

/** Time a JWKS fetch may take before the handshake gets 503 (ms). jose's default: 5 s, below the 10 s handshake timeout. */
export const DEFAULT_JWKS_TIMEOUT = 5_000

/**
 * Handshakes a client may make in a burst before `rateLimit()` answers 429
 * (the token bucket's capacity). A page that opens a few sockets and a
 * client reconnecting after a deploy stay well inside it.
 */
export const DEFAULT_RATE_LIMIT_BURST = 20

/**
 * Handshakes per second a client earns back after a burst (the bucket's
 * refill rate): 60 a minute, ample for reconnects with backoff, far below a flood.
 */
export const DEFAULT_RATE_LIMIT_REFILL_PER_SECOND = 1

/**
 * Clients whose buckets the in-memory store keeps (least recently used
 * evicted beyond it). About 100 bytes each, so about 10 MB at the bound; an
 * evicted client starts again with a full bucket.
 */
export const DEFAULT_RATE_LIMIT_MAX_KEYS = 100_000

/**
 * How long a gateway process's hold on its connection slots in a shared
 * store (`redisStore()`) lives without a heartbeat (ms); the heartbeat
 * renews it every third of that. A process that crashed, or lost Redis for
 * longer, has its slots counted by nobody after at most this long: 10 s
 * frees a dead process's share quickly while riding out a GC pause or a
 * Redis restart of a few seconds.
 */
export const DEFAULT_STORE_LEASE_TTL = 10_000

/**
 * Time one Redis command of `redisStore()` may take before the store counts
 * Redis as down (ms): a handshake waits at most this long on its limits.
 * Redis answers on a LAN in well under 1 ms; 500 ms rides out a busy moment
 * without holding handshakes on a dead server.
 */
export const DEFAULT_STORE_TIMEOUT = 500

/** Prepended to every key `redisStore()` writes, to keep wsgate's keys apart from others in the same Redis. */
export const DEFAULT_STORE_KEY_PREFIX = 'wsgate:'

/**
 * Longest wait before a `wsgate start --workers` primary replaces a worker
 * that keeps dying before it listens (ms); the wait doubles from 100 ms with
 * each such death, so a broken routes module does not fork in a hot loop.
 */
export const DEFAULT_WORKER_RESTART_BACKOFF = 10_000

/** `waf()` paranoia level when none is given: the CRS's default, the level with the fewest false positives. */
export const DEFAULT_WAF_PARANOIA = 1

/**
 * Inbound anomaly score at which `waf()` refuses a handshake: the CRS's
 * default, reached by one critical match (5) or two warnings (3 + 3).
 */
export const DEFAULT_WAF_THRESHOLD = 5

/**
 * Time one `waf()` evaluation may take (ms), checked between rules. The CRS
 * at paranoia 1 takes well under a millisecond on a handshake, so only
 * pathological input (or a pathological custom rule) reaches it.
 */
export const DEFAULT_WAF_BUDGET = 50

/**
 * Value texts whose transformed forms and prefilter literal sets a `waf()`
 * rule set keeps from one handshake to the next (CLOCK eviction). A
 * handshake holds ~40 distinct texts and most recur within 50 handshakes
 * (User-Agent, Origin, Host, cookies, paths): 4,096 is ~100 handshakes'
 * worth of distinct texts, so the recurring ones stay while one-offs cycle.
 */
export const DEFAULT_WAF_TEXT_CACHE_ENTRIES = 4_096

/**
 * Bytes that cache may hold per rule set, 4 MiB: every cached string
 * (UTF-16, 2 bytes a char), every literal set (~200 bytes with the CRS) and
 * each entry's fixed slots (8 bytes each, ~1.1 KB with the CRS) are
 * counted, so this, not the entry count, is usually the binding bound
 * (~2,500 CRS entries). Small beside a gateway's heap; a handshake's own
 * texts may exceed it until that evaluation ends.
 */
export const DEFAULT_WAF_TEXT_CACHE_BYTES = 4 * 1024 * 1024

/**
 * Longest value text (chars) kept in that cache after its handshake, 1 KiB:
 * longer texts (big cookies, tokens) are rarely repeated byte for byte and
 * would each push out dozens of short recurring ones; they are still cached
 * for the rest of their own evaluation.
 */
export const DEFAULT_WAF_TEXT_CACHE_MAX_TEXT = 1024

/**
 * Largest write of JSON lines to stdout, bytes, made of whole lines. At
 * info level a gateway logs two lines (~300 bytes each) per connection;
 * pino's default stdout stream writes every line on its own, which cost
 * more CPU than building the line. 4 KiB batches ~7 connections' lines
 * into one write, and is a pipe's atomic-write size (`PIPE_BUF` on Linux):
 * processes sharing one stdout pipe (`--workers`) never interleave mid-line.
 */
export const DEFAULT_LOG_BUFFER_BYTES = 4096

/**
 * Largest write of JSON lines when stdout is a regular file, bytes. A
 * file has no reader to keep atomic writes for (appends from several
 * processes land whole on Linux), and each write to it costs a system
 * call that extends the file: 64 KiB batches ~100 connections' lines into
 * one, where 4 KiB cost about 5 µs of CPU per handshake in writes alone.
 */
export const DEFAULT_LOG_FILE_BUFFER_BYTES = 64 * 1024

/**
 * Log lines held in memory while stdout does not keep up (a full pipe, a
 * stopped reader), bytes; beyond it new lines are dropped and counted in
 * one warn line once stdout takes lines again. 16 MiB is some 50,000
 * lines: seconds of a busy gateway's traffic, minutes of a quiet one's.
 */
export const DEFAULT_LOG_MAX_BUFFERED_BYTES = 16 * 1024 * 1024

/**
 * Longest a line waits in the buffer on a quiet gateway, ms. Lines are
 * written synchronously when the process exits (the log writer's exit
 * hook), so only a SIGKILL can lose them.
 */
export const DEFAULT_LOG_FLUSH_INTERVAL = 100

/**
 * Longest the CLI waits for the last log lines to be written before it
 * exits (ms). They take a millisecond when stdout is read; this only bounds
 * a reader that stopped reading, which must not keep a stopped gateway alive.
 */
export const DEFAULT_LOG_EXIT_FLUSH_TIMEOUT = 2_000

/**
 * Size of each of V8's two young-generation semi-spaces for `wsgate start`,
 * MiB (Node's `--max-semi-space-size`). A gateway opening thousands of
 * connections grows Node's default to 64 MiB per semi-space: about 6 KiB of
 * RSS per connection at 10,000 held, as much as the connections themselves
 * hold. 16 costs no measurable CPU per handshake; 8 cost the full chain
 * 3.6 % (bench/memory/). Node reads the flag at start only, so the command
 * re-executes itself once with it (same PID), unless the command line or
 * `NODE_OPTIONS` sets it already.
 */
export const DEFAULT_SEMI_SPACE_MIB = 16

/**
 * Streams one HTTP/2 client connection may have open at once on the TLS
 * listener (SETTINGS_MAX_CONCURRENT_STREAMS): WebSockets and requests
 * together. RFC 9113 §6.5.2 asks for no fewer than 100; the gateway's
 * per-client caps (`maxConnectionsPerClient`) still apply to the
 * WebSockets among them.
 */
export const DEFAULT_H2_MAX_CONCURRENT_STREAMS = 256

/**
 * How long an HTTP/2 connection closed for want of a stream (no first
 * stream within the handshake timeout, or none open for the keep-alive
 * time) may take to go after its GOAWAY, ms. A graceful close waits for
 * what is in flight, and a header block whose CONTINUATION frames trickle
 * in would hold the connection for as long as its sender likes; past this
 * the connection is dropped. A client whose stream was really under way
 * has had its GOAWAY (and its stream refused) by then anyway.
 */
export const DEFAULT_H2_GOAWAY_GRACE = 1_000
