/**
 * The names of the CRS's files that have a place of their own in the load
 * order (`crs-files.ts`) and in a directory (`crs-directory.ts`): the setup
 * file and the exclusion files around the rules. Portable.
 */

/** The exclusion file loaded before the CRS's rules, after the custom ones. */
export const BEFORE_CRS = 'REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf'

/** The exclusion file loaded after the CRS's rules. */
export const AFTER_CRS = 'RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf'

/** The setup file's names, preferred first. */
export const SETUP_NAMES: readonly string[] = ['crs-setup.conf', 'crs-setup.conf.example']
