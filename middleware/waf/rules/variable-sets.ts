/**
 * The variable names the compiler knows besides the request collections a
 * host's `buildCollections` provides: the engine's own (TX, MATCHED_*), the
 * macro-only `RULE`, and the body and response variables, which exist at
 * handshake time and are empty (a rule reading only those is set aside).
 *
 * Portable: no `node:` import.
 */
import type { ParsedVariable } from './seclang.ts'

/** Variables the engine itself keeps, whatever the request. */
export const ENGINE_VARIABLES: ReadonlySet<string> = new Set([
  'TX',
  'MATCHED_VAR',
  'MATCHED_VAR_NAME',
  'MATCHED_VARS',
  'MATCHED_VARS_NAMES',
  'UNIQUE_ID',
  'DURATION',
])

/** Macro-only names the engine resolves (`%{rule.id}`). */
export const MACRO_ONLY: ReadonlySet<string> = new Set(['RULE'])

/** Variables only a request body fills: at handshake time they exist and are empty. */
export const BODY_VARIABLES: ReadonlySet<string> = new Set([
  'REQUEST_BODY',
  'REQUEST_BODY_LENGTH',
  'ARGS_POST',
  'ARGS_POST_NAMES',
  'FILES',
  'FILES_NAMES',
  'FILES_SIZES',
  'FILES_TMPNAMES',
  'FILES_TMP_CONTENT',
  'FILES_COMBINED_SIZE',
  'XML',
  'JSON',
  'REQBODY_PROCESSOR',
  'REQBODY_ERROR',
  'REQBODY_ERROR_MSG',
  'REQBODY_PROCESSOR_ERROR',
  'REQBODY_PROCESSOR_ERROR_MSG',
  'INBOUND_DATA_ERROR',
  'FULL_REQUEST',
  'FULL_REQUEST_LENGTH',
  'MULTIPART_BOUNDARY_QUOTED',
  'MULTIPART_BOUNDARY_WHITESPACE',
  'MULTIPART_CRLF_LF_LINES',
  'MULTIPART_DATA_AFTER',
  'MULTIPART_DATA_BEFORE',
  'MULTIPART_FILE_LIMIT_EXCEEDED',
  'MULTIPART_FILENAME',
  'MULTIPART_HEADER_FOLDING',
  'MULTIPART_INVALID_HEADER_FOLDING',
  'MULTIPART_INVALID_PART',
  'MULTIPART_INVALID_QUOTING',
  'MULTIPART_LF_LINE',
  'MULTIPART_MISSING_SEMICOLON',
  'MULTIPART_NAME',
  'MULTIPART_PART_HEADERS',
  'MULTIPART_STRICT_ERROR',
  'MULTIPART_UNMATCHED_BOUNDARY',
  'RESPONSE_BODY',
  'RESPONSE_HEADERS',
  'RESPONSE_HEADERS_NAMES',
  'RESPONSE_STATUS',
  'RESPONSE_PROTOCOL',
  'RESPONSE_CONTENT_TYPE',
  'RESPONSE_CONTENT_LENGTH',
  'OUTBOUND_DATA_ERROR',
  'STATUS_LINE',
])

/** A link reads only body or response variables (not counted): at handshake time it can never match. */
export function isBodyOnly(variables: ParsedVariable[]): boolean {
  const targets = variables.filter((variable) => !variable.exclude)
  return targets.length > 0 && targets.every((variable) => BODY_VARIABLES.has(variable.collection) && !variable.count)
}
