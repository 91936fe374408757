/** The most artifacts one archive takes: the manifest and the zip's directory are held in memory (a few hundred bytes each). */
export const MAX_ARCHIVE_ENTRIES = 50_000;
