/**
 * The headers a result file is served with. Scripts choose a file's name, bytes and content type,
 * and files are served from the API's own origin: an HTML or SVG file shown inline there could run
 * script with the API's cookies and reach every route. So every file gets `nosniff` and a CSP
 * sandbox (no script, no plugins, an opaque origin, nothing loaded), and only inert types are shown
 * inline; everything else is a download. Pure: no request, no reply.
 */

/**
 * Types a browser only ever displays (images, PDF, text): shown inline, under the CSP sandbox.
 * SVG, HTML, XML and JavaScript are never here: they can carry script.
 */
const INLINE_TYPES: ReadonlySet<string> = new Set([
  'image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf', 'text/plain', 'application/json', 'text/csv',
]);

/** Text types keep a charset; one not in this list (or none) is served as UTF-8. */
const TEXT_TYPES: ReadonlySet<string> = new Set(['text/plain', 'application/json', 'text/csv']);
const CHARSETS: ReadonlySet<string> = new Set(['utf-8', 'us-ascii', 'iso-8859-1', 'windows-1252', 'utf-16le', 'utf-16be']);

/** RFC 9110's token characters: a media type is `token/token`. */
const MEDIA_TYPE = /^[a-z0-9!#$%&'*+.^_`|~-]+\/[a-z0-9!#$%&'*+.^_`|~-]+$/;

export const RESULT_FILE_CSP = "sandbox; default-src 'none'";

/** The media type a stored content type names, lower case and without parameters; octet-stream when it names none. */
export function mediaTypeOf(contentType: string): string {
  const essence = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return essence.length <= 127 && MEDIA_TYPE.test(essence) ? essence : 'application/octet-stream';
}

function charsetOf(contentType: string): string {
  const match = /;\s*charset\s*=\s*"?([A-Za-z0-9._-]{1,40})"?\s*(?:;|$)/i.exec(contentType);
  const charset = match?.[1]?.toLowerCase();
  return charset && CHARSETS.has(charset) ? charset : 'utf-8';
}

/** RFC 5987's attr-char: what may stand unencoded in `filename*`. */
const ATTR_CHAR = /[A-Za-z0-9!#$&+.^_`|~-]/;

function encodeExtValue(name: string): string {
  let out = '';
  for (const ch of name) out += ATTR_CHAR.test(ch) ? ch : [...Buffer.from(ch, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  return out;
}

/** The quoted `filename` for clients without RFC 6266 support: printable ASCII, no quote, backslash or percent. */
function asciiFallback(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return ascii.length > 0 ? ascii : 'file';
}

/** `inline` or `attachment` with the file's name in both forms (RFC 6266, RFC 5987): safe for any name. */
export function contentDisposition(kind: 'inline' | 'attachment', name: string): string {
  return `${kind}; filename="${asciiFallback(name)}"; filename*=UTF-8''${encodeExtValue(name)}`;
}

/**
 * The headers for a result file named `name` whose worker said it is `contentType`. The content
 * type is rebuilt, never passed through: a script's parameters or control characters cannot reach
 * the response headers.
 */
export function resultFileHeaders(name: string, contentType: string): Record<string, string> {
  const mediaType = mediaTypeOf(contentType);
  const inline = INLINE_TYPES.has(mediaType);
  return {
    'content-type': TEXT_TYPES.has(mediaType) ? `${mediaType}; charset=${charsetOf(contentType)}` : mediaType,
    'content-disposition': contentDisposition(inline ? 'inline' : 'attachment', name),
    'x-content-type-options': 'nosniff',
    'content-security-policy': RESULT_FILE_CSP,
  };
}

/** For the other routes that return what a client or a script wrote (input, results index): never sniffed. */
export const NOSNIFF: Readonly<Record<string, string>> = { 'x-content-type-options': 'nosniff' };

/** For text a script chose (its source, its console): never sniffed, and sandboxed should a browser show it. */
export const SCRIPT_TEXT_HEADERS: Readonly<Record<string, string>> = { ...NOSNIFF, 'content-security-policy': RESULT_FILE_CSP };
