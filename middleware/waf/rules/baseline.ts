/**
 * wsgate's embedded baseline rule set, written in SecLang and run by the
 * same engine as the CRS: what `waf()` enforces when no `crs` is given, so
 * that it protects out of the box. Smaller than the CRS (about 40 rules) and
 * aimed at what a WebSocket handshake carries: the request target (path,
 * query arguments and their names), the headers and the cookies.
 *
 * It scores like the CRS: every detection adds its severity's points to
 * `tx.anomaly_score` (critical 5, warning 3), and rule 9009990 refuses the
 * handshake once the score reaches `tx.inbound_anomaly_score_threshold`
 * (`waf({ threshold })`, 5 by default). Rules tagged `paranoia-level/2` run
 * only from `waf({ paranoia: 2 })` on: they are stricter and more likely to
 * flag unusual but legitimate values.
 *
 * Families: SQL injection, XSS, path traversal and local file inclusion,
 * remote file inclusion, remote command execution (shell, Shellshock), PHP
 * injection (tags, wrappers, ini directives, functions, serialized objects),
 * Java injection (`${jndi:` and other Log4Shell lookups, in every header as
 * well: the CRS 3.3 misses them there), Node.js injection, scanners (user
 * agents, headers, probe paths) and protocol anomalies (NUL bytes, CR/LF
 * injection, LDAP injection, a body on a GET, `Proxy:`).
 *
 * Ids 9000000–9009999 (outside the CRS's 900000–999999 and the 1–99999
 * ModSecurity leaves to local rules). Portable: no `node:` import.
 */

/** Every value a handshake brings, headers included (the Cookie header is read parsed, as REQUEST_COOKIES; the key is random base64). */
const ALL = 'ARGS|ARGS_NAMES|REQUEST_COOKIES|REQUEST_COOKIES_NAMES|REQUEST_HEADERS|!REQUEST_HEADERS:Cookie|!REQUEST_HEADERS:Sec-WebSocket-Key'
/** The same plus the path. */
const ALL_AND_PATH = `REQUEST_FILENAME|${ALL}`

/** Decodings an attacker hides behind, then lower case. */
const DECODE = 't:none,t:utf8toUnicode,t:urlDecodeUni,t:htmlEntityDecode,t:removeNulls,t:lowercase'
const DECODE_JS = 't:none,t:utf8toUnicode,t:urlDecodeUni,t:htmlEntityDecode,t:jsDecode,t:cssDecode,t:removeNulls,t:lowercase'

/** `block` plus the critical score, for detections. */
const critical = (family: string, id: number, message: string, level = 1): string =>
  `id:${id},phase:2,block,capture,msg:'${message}',logdata:'Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}',` +
  `tag:'wsgate-baseline',tag:'attack-${family}',tag:'paranoia-level/${level}',severity:'CRITICAL',` +
  `setvar:'tx.anomaly_score=+%{tx.critical_anomaly_score}'`

const warning = (family: string, id: number, message: string, level = 1): string =>
  `id:${id},phase:2,block,msg:'${message}',tag:'wsgate-baseline',tag:'attack-${family}',tag:'paranoia-level/${level}',severity:'WARNING',` +
  `setvar:'tx.anomaly_score=+%{tx.warning_anomaly_score}'`

/** The baseline rule set as SecLang text. */
export const BASELINE_RULES = String.raw`
SecComponentSignature "wsgate-baseline/1"
SecDefaultAction "phase:1,log,pass"
SecDefaultAction "phase:2,log,pass"

# Initialisation: severities' points, and defaults for what waf() sets (rule 99000) when it is absent.
SecAction "id:9000001,phase:1,pass,nolog,t:none,setvar:tx.anomaly_score=0,setvar:tx.critical_anomaly_score=5,setvar:tx.error_anomaly_score=4,setvar:tx.warning_anomaly_score=3,setvar:tx.notice_anomaly_score=2"
SecRule &TX:paranoia_level "@eq 0" "id:9000002,phase:1,pass,nolog,setvar:tx.paranoia_level=1"
SecRule &TX:executing_paranoia_level "@eq 0" "id:9000003,phase:1,pass,nolog,setvar:tx.executing_paranoia_level=%{tx.paranoia_level}"
SecRule &TX:inbound_anomaly_score_threshold "@eq 0" "id:9000004,phase:1,pass,nolog,setvar:tx.inbound_anomaly_score_threshold=5"

# --- SQL injection --------------------------------------------------------
SecRule ${ALL} "@rx ['\"\x60]\s*(?:or|and|xor|\|\||&&)\s*(?:['\"\x60]?\w+['\"\x60]?\s*(?:=|<|>|like\b|is\b)|\d+\s*(?:=|<|>)|true\b|not\b)" \
  "${critical('sqli', 9001001, 'SQL injection: boolean tautology after a quote')},${DECODE},t:compressWhitespace"
SecRule ${ALL} "@rx \bunion(?:\s+all|\s+distinct)?[\s(]+select\b" \
  "${critical('sqli', 9001002, 'SQL injection: UNION SELECT')},${DECODE},t:replaceComments,t:compressWhitespace"
SecRule ${ALL} "@rx \b(?:sleep|benchmark|pg_sleep|extractvalue|updatexml|load_file)\s*\(|\bwaitfor\s+(?:delay|time)\s+['\"\x60]" \
  "${critical('sqli', 9001003, 'SQL injection: time-based or error-based function')},${DECODE},t:compressWhitespace"
SecRule ${ALL} "@rx ;\s*(?:(?:drop|truncate|alter)\s+(?:table|database|schema|user)\b|delete\s+from\b|insert\s+into\b|update\s+\w+\s+set\b|exec(?:ute)?\s+\w|shutdown\b|declare\s+@)" \
  "${critical('sqli', 9001004, 'SQL injection: stacked query')},${DECODE},t:compressWhitespace"
SecRule ${ALL} "@rx \b(?:information_schema|pg_catalog|sqlite_master|mysql\.user|xp_cmdshell|sp_executesql|sysobjects|syscolumns|sys\.(?:objects|tables|columns))\b" \
  "${critical('sqli', 9001005, 'SQL injection: system catalog or procedure')},${DECODE}"
SecRule ${ALL} "@rx ['\"\x60]\s*(?:;\s*)?(?:--|#|/\*)|\bor\s+\d+\s*=\s*\d+|\band\s+\d+\s*=\s*\d+" \
  "${critical('sqli', 9001006, 'SQL injection: comment after a quote, or numeric tautology')},${DECODE},t:compressWhitespace"
SecRule ${ALL} "@rx ['\"\x60]\s*(?:order|group)\s+by\s+[\w(]|['\"\x60]\s*having\s+\w|\b(?:order|group)\s+by\s+\d+\s*(?:--|#|/\*)" \
  "${critical('sqli', 9001007, 'SQL injection: clause after a quote')},${DECODE},t:compressWhitespace"

# --- Cross-site scripting -------------------------------------------------
SecRule ${ALL_AND_PATH} "@rx <\s*/?\s*script\b" \
  "${critical('xss', 9002001, 'XSS: script tag')},${DECODE_JS}"
SecRule ${ALL_AND_PATH} "@rx <\s*[a-z][^>]*?[\s/\"'](?:on[a-z]{3,}|formaction|srcdoc)\s*=" \
  "${critical('xss', 9002002, 'XSS: event handler attribute')},${DECODE_JS}"
SecRule ${ALL} "@rx (?:^|[\s\"'=(<])(?:java|vb|live)script\s*:|\bdata\s*:\s*text/html|<\s*(?:iframe|object|embed|base|applet|meta)\b|\bexpression\s*\(" \
  "${critical('xss', 9002003, 'XSS: script URI, embedding tag or CSS expression')},${DECODE_JS}"
SecRule ${ALL} "@rx \bdocument\s*\.\s*(?:cookie|domain|write)|\bwindow\s*\.\s*location\b|\bstring\s*\.\s*fromcharcode\s*\(|\balert\s*\(" \
  "${critical('xss', 9002004, 'XSS: script API')},${DECODE_JS}"

# --- Path traversal and local file inclusion ------------------------------
SecRule REQUEST_URI_RAW|${ALL} "@rx (?:^|[\\/])\.\.(?:[\\/]|$)|%2e%2e[%\\/]|\.\.%(?:2f|5c)|%c0%ae|%u002e" \
  "${critical('lfi', 9003001, 'Path traversal')},t:none,t:utf8toUnicode,t:urlDecodeUni,t:removeNulls,t:lowercase"
SecRule ${ALL_AND_PATH} "@rx (?:^|[\\/])(?:etc[\\/](?:passwd|shadow|group|hosts|issue|sudoers|crontab)|proc[\\/](?:self|\d+)[\\/]|(?:boot|win|system)\.ini|windows[\\/]system32|\.(?:git|svn|hg|bzr)(?:[\\/]|$)|\.ht(?:access|passwd)|web\.config|wp-config\.php|id_(?:rsa|dsa|ecdsa|ed25519)\b|\.env$|\.aws[\\/]credentials)" \
  "${critical('lfi', 9003002, 'Local file inclusion: sensitive file')},t:none,t:utf8toUnicode,t:urlDecodeUni,t:removeNulls,t:normalisePathWin,t:lowercase"

# --- Remote file inclusion ------------------------------------------------
SecRule ARGS "@rx ^(?:file|ftps?|https?)://(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[[0-9a-f:]+\])" \
  "${critical('rfi', 9004001, 'Remote file inclusion: URL with an IP address')},t:none,t:urlDecodeUni,t:lowercase"
SecRule ARGS "@rx ^(?:ftps?|https?)://[^?#]+(?:\?|%00|\x00)$" \
  "${critical('rfi', 9004002, 'Remote file inclusion: URL ending in ? or NUL')},t:none,t:urlDecodeUni,t:lowercase"
SecRule ARGS:/^(?:mosconfig_absolute_path|_conf\[path\]|include_path|gallery_basedir|phpbb_root_path|appserv_root|path\[docroot\])$/ "@rx ^(?:ftps?|https?)://" \
  "${critical('rfi', 9004003, 'Remote file inclusion: URL in a parameter known to be included')},t:none,t:urlDecodeUni,t:lowercase"

# --- Remote command execution ---------------------------------------------
SecRule ${ALL} "@rx (?:[;&|\x60\n]|\$\(|\|\|)\s*(?:cat|id|whoami|uname|ls|nc|ncat|netcat|wget|curl|bash|sh|zsh|ksh|python[23]?|perl|ruby|php|nslookup|ping|rm|chmod|chown|echo|kill|ps|ifconfig|env|powershell|cmd(?:\.exe)?|busybox|telnet|ssh|tftp|sleep)\b(?!\s*=)" \
  "${critical('rce', 9005001, 'Command injection: command after a shell separator')},t:none,t:urlDecodeUni,t:lowercase"
SecRule ${ALL} "@rx /(?:usr/)?(?:s?bin)/(?:ba|z|k|da)?sh\b|\b(?:ba)?sh\s+-[ci]\b|\$\{ifs\}|\$ifs\b" \
  "${critical('rce', 9005002, 'Command injection: shell invocation')},t:none,t:urlDecodeUni,t:lowercase"
SecRule REQUEST_HEADERS|ARGS|REQUEST_COOKIES "@rx ^\s*\(\s*\)\s*\{" \
  "${critical('rce', 9005003, 'Shellshock: function definition in a value')},t:none,t:urlDecodeUni"

# --- PHP injection --------------------------------------------------------
SecRule ${ALL_AND_PATH} "@rx <\?(?:php\b|=)|\b(?:php|phar|zip|data|expect|glob|compress\.zlib|compress\.bzip2)://" \
  "${critical('php', 9006001, 'PHP injection: open tag or stream wrapper')},${DECODE}"
SecRule ${ALL} "@rx \b(?:allow_url_include|allow_url_fopen|auto_prepend_file|auto_append_file|disable_functions|open_basedir|safe_mode|suhosin\.[a-z_.]+)\s*=" \
  "${critical('php', 9006002, 'PHP injection: configuration directive')},${DECODE}"
SecRule ${ALL_AND_PATH} "@rx \b(?:system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec|phpinfo|eval|assert|base64_decode|gzinflate|str_rot13|file_get_contents|file_put_contents|fopen|readfile|include|include_once|require_once|create_function|call_user_func(?:_array)?|preg_replace|move_uploaded_file)\s*\(" \
  "${critical('php', 9006003, 'PHP injection: function call')},${DECODE},t:replaceComments"
SecRule ${ALL} "@rx (?:^|[;{])\s*[oc]:\d+:\"[^\"]+\":\d+:\{|(?:^|[;{])\s*a:\d+:\{(?:[si]:\d+[:;])" \
  "${critical('php', 9006004, 'PHP injection: serialized object')},t:none,t:urlDecodeUni,t:lowercase"

# --- Java injection (Log4Shell lookups, expression languages) ------------
SecRule REQUEST_URI_RAW|${ALL} "@rx \$\{(?:[^}]{0,40}\$\{|\s*(?:jndi|lower|upper|env|sys|java|base64|date|main|bundle|ctx|spring|k8s|docker|web|log4j|marker|map|sd|event|script)\s*:|::-)" \
  "${critical('java', 9007001, 'Java injection: Log4Shell lookup')},t:none,t:urlDecodeUni,t:lowercase"
SecRule ${ALL} "@rx java\.lang\.(?:runtime|processbuilder|system|class|reflect|thread)\b|\bgetruntime\s*\(\s*\)\s*\.\s*exec\b|\bt\s*\(\s*java\.|#_?memberaccess|@java\.lang\.|\bnew\s+java\.|javax\.script\.|\bclass\.(?:module|classloader)\b" \
  "${critical('java', 9007002, 'Java injection: runtime, reflection or expression language')},${DECODE}"

# --- Node.js injection ----------------------------------------------------
SecRule ${ALL} "@rx _\$\$nd_func\$\$_|\bnew\s+function\s*\(|\bconstructor\s*\.\s*constructor\s*\(|\brequire\s*\(\s*['\"\x60](?:child_process|fs|net|vm)['\"\x60]|\bprocess\s*\.\s*(?:mainmodule|binding|dlopen)\b|\bchild_process\b" \
  "${critical('nodejs', 9008001, 'Node.js injection')},${DECODE_JS}"
SecRule ARGS_NAMES|REQUEST_COOKIES_NAMES "@rx __proto__|\bconstructor\s*[\[.]\s*prototype\b" \
  "${critical('nodejs', 9008002, 'Prototype pollution in a parameter name')},t:none,t:urlDecodeUni,t:lowercase"

# --- Scanners -------------------------------------------------------------
SecRule REQUEST_HEADERS:User-Agent "@pm sqlmap nikto nmap masscan acunetix nessus openvas w3af dirbuster gobuster wpscan zgrab nuclei havij netsparker zmeu morfeus jaeles arachni skipfish whatweb fimap commix xsstrike wfuzz dirb/ bsqlbf sqlninja paros webinspect appscan grendel-scan brutus nsauditor jorgee" \
  "${critical('scanner', 9009001, 'Scanner: user agent')},t:none,t:lowercase"
SecRule REQUEST_HEADERS_NAMES "@rx ^(?:acunetix-[a-z-]+|x-scanner|x-wipp|x-request-memo|x-scan-memo|bugbounty|x-burp-[a-z-]*)$" \
  "${critical('scanner', 9009002, 'Scanner: request header')},t:none,t:lowercase"
SecRule REQUEST_HEADERS:User-Agent "@rx ^fuzz faster u fool|\bffuf/" \
  "${critical('scanner', 9009004, 'Scanner: user agent')},t:none,t:lowercase"
SecRule REQUEST_FILENAME|ARGS "@pm nessustest nessus_is_probing w00tw00t .acunetix acunetix-wvs-test appscan_fingerprint netsparker- arachni- /w3af/ rfiinc.txt" \
  "${critical('scanner', 9009003, 'Scanner: probe URL')},t:none,t:urlDecodeUni,t:lowercase"

# --- Protocol anomalies ---------------------------------------------------
SecRule REQUEST_FILENAME|ARGS|ARGS_NAMES|REQUEST_COOKIES|REQUEST_COOKIES_NAMES|REQUEST_HEADERS "@rx \x00" \
  "${critical('protocol', 9010001, 'NUL byte in the request')},t:none,t:urlDecodeUni"
SecRule ARGS|ARGS_NAMES|REQUEST_COOKIES "@rx [\r\n]\s*(?:[\w-]+\s*:|http/\d)" \
  "${critical('protocol', 9010002, 'CR/LF injection: header or response splitting')},t:none,t:urlDecodeUni,t:lowercase"
SecRule REQUEST_FILENAME "@rx [\r\n]" \
  "${critical('protocol', 9010003, 'CR/LF in the request path')},t:none,t:urlDecodeUni"
SecRule ARGS|REQUEST_COOKIES "@rx \*\)\s*\(|\)\s*\(\s*[|&!]\s*\(|^\*?\)\s*\(\s*\w+\s*[<>~]?=" \
  "${critical('protocol', 9010004, 'LDAP injection')},t:none,t:urlDecodeUni"
SecRule &REQUEST_HEADERS:Transfer-Encoding "!@eq 0" \
  "${critical('protocol', 9010005, 'Transfer-Encoding on a handshake (request smuggling)')}"
SecRule REQUEST_HEADERS:Content-Length "!@rx ^0?$" \
  "${critical('protocol', 9010006, 'Request body announced on a handshake')}"
SecRule &REQUEST_HEADERS:Proxy "!@eq 0" \
  "${critical('protocol', 9010007, 'Proxy header (httpoxy)')}"
SecRule REQUEST_HEADERS_NAMES "@rx ^(?:content-encoding|content-range|lock-token|if|accept-charset)$" \
  "${critical('protocol', 9010009, 'Header restricted by policy on a handshake')},t:none,t:lowercase"
SecRule REQUEST_BASENAME "@rx \.(?:bak|backup|old|orig|sql|key|pem|log|ini|cfg|conf|config|swp|mdb|dbf|pwd|passwd|htpasswd)$|~$" \
  "${critical('protocol', 9010010, 'Restricted file extension (backup, key, log, database)')},t:none,t:urlDecodeUni,t:lowercase"
SecRule REQUEST_HEADERS:Host "@rx ^$" \
  "${warning('protocol', 9010008, 'Empty Host header')}"

# --- Paranoia level 2: stricter, more false positives -----------------------
SecRule TX:EXECUTING_PARANOIA_LEVEL "@lt 2" "id:9009901,phase:2,pass,nolog,skipAfter:END-BASELINE-PL2"
SecRule ${ALL} "@rx \bselect\b.{1,100}?\bfrom\b|\b(?:insert\s+into|delete\s+from|drop\s+table)\b|\b(?:concat|group_concat|char|chr|ascii|substring|version|database|user)\s*\(" \
  "${critical('sqli', 9009902, 'SQL injection: SQL syntax', 2)},${DECODE},t:replaceComments,t:compressWhitespace"
SecRule ${ALL_AND_PATH} "@rx <\s*[a-z]+[\s/>]|\bon[a-z]{3,}\s*=" \
  "${critical('xss', 9009903, 'XSS: HTML tag or event handler', 2)},${DECODE_JS}"
SecRule ${ALL} "@rx [\r\n]" \
  "${warning('protocol', 9009904, 'CR/LF in a value', 2)},t:none,t:urlDecodeUni"
SecRule REQUEST_HEADERS:User-Agent "@rx ^$" \
  "${warning('protocol', 9009905, 'Empty User-Agent', 2)}"
SecMarker END-BASELINE-PL2

# --- Blocking evaluation --------------------------------------------------
SecRule TX:ANOMALY_SCORE "@ge %{tx.inbound_anomaly_score_threshold}" \
  "id:9009990,phase:2,deny,t:none,msg:'Inbound anomaly score exceeded (total score: %{TX.ANOMALY_SCORE})',tag:'wsgate-baseline',severity:'CRITICAL'"
`
