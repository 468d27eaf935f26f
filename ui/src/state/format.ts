/**
 * The locale numbers are written in: the system's, unless it groups no
 * thousands (WebKit under the C or POSIX locale writes 13714), then English
 * (13,714).
 */
export const numberLocale: string | undefined = (1234567).toLocaleString().length > 7 ? undefined : "en-US";
