/**
 * Text that ends up in URLs and HTTP headers. encodeURIComponent throws on a lone surrogate and
 * Node refuses any header value outside Latin-1 (ERR_INVALID_CHAR), so either would turn a
 * crafted link into a 500; these helpers make any string safe instead.
 */

/** Replace lone UTF-16 surrogates with U+FFFD (String.prototype.toWellFormed, ES2024). */
export function wellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** encodeURIComponent that never throws. */
export function encodeComponent(s: string): string {
  return encodeURIComponent(wellFormed(s));
}

/**
 * A URL as a header value: every character outside visible ASCII (controls, space, CR/LF,
 * non-Latin-1, DEL) is percent-encoded as UTF-8; '%' and the rest are left as they are.
 */
export function headerSafeUrl(url: string): string {
  return wellFormed(url).replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
}
