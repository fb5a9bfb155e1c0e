import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contentDisposition, mediaTypeOf, resultFileHeaders } from '../../src/server/result-file-headers.ts';

test('only inert types are inline; HTML, SVG, XML, JavaScript and anything unknown are downloads', () => {
  const inline = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf', 'text/plain', 'application/json', 'text/csv'];
  for (const type of inline) assert.match(resultFileHeaders('f', type)['content-disposition']!, /^inline;/, type);
  const attachment = ['text/html', 'image/svg+xml', 'application/xhtml+xml', 'application/xml', 'text/xml', 'text/javascript', 'application/javascript', 'text/markdown', 'application/octet-stream', 'multipart/x-mixed-replace', ''];
  for (const type of attachment) assert.match(resultFileHeaders('f', type)['content-disposition']!, /^attachment;/, type);
  for (const type of [...inline, ...attachment]) {
    const headers = resultFileHeaders('f', type);
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.equal(headers['content-security-policy'], "sandbox; default-src 'none'");
  }
});

test('the content type is rebuilt: parameters dropped, CR/LF and junk never pass, text gets a known charset', () => {
  assert.equal(resultFileHeaders('f', 'Text/HTML; charset=utf-8')['content-type'], 'text/html');
  assert.equal(resultFileHeaders('f', 'image/png; x="\r\nSet-Cookie: a=b"')['content-type'], 'image/png');
  assert.equal(resultFileHeaders('f', 'text/plain\r\nSet-Cookie: a=b')['content-type'], 'application/octet-stream');
  assert.equal(resultFileHeaders('f', 'text/plain; charset=ISO-8859-1')['content-type'], 'text/plain; charset=iso-8859-1');
  assert.equal(resultFileHeaders('f', 'text/plain; charset=utf-7')['content-type'], 'text/plain; charset=utf-8');
  assert.equal(resultFileHeaders('f', 'text/csv; charset="x\r\ny"')['content-type'], 'text/csv; charset=utf-8');
  assert.equal(resultFileHeaders('f', 'application/json')['content-type'], 'application/json; charset=utf-8');
  assert.equal(mediaTypeOf('no type at all'), 'application/octet-stream');
  assert.equal(mediaTypeOf('text/\u00e9'), 'application/octet-stream');
  assert.equal(mediaTypeOf(`a/${'b'.repeat(200)}`), 'application/octet-stream');
});

test('Content-Disposition carries any name safely: a quoted ASCII fallback and the exact name per RFC 5987', () => {
  assert.equal(contentDisposition('inline', 'plot.png'), `inline; filename="plot.png"; filename*=UTF-8''plot.png`);
  assert.equal(contentDisposition('attachment', 'a "b"\\c%.txt'), `attachment; filename="a _b__c_.txt"; filename*=UTF-8''a%20%22b%22%5Cc%25.txt`);
  assert.equal(contentDisposition('attachment', '\u00e9t\u00e9\r\n'), `attachment; filename="_t___"; filename*=UTF-8''%C3%A9t%C3%A9%0D%0A`);
  assert.equal(contentDisposition('attachment', "it's;x=1"), `attachment; filename="it's;x=1"; filename*=UTF-8''it%27s%3Bx%3D1`);
  // Every header value is one line of visible ASCII.
  for (const name of ['\u{1F600}', 'a\u2028b', 'x'.repeat(255)]) assert.match(contentDisposition('inline', name), /^[\x20-\x7e]+$/);
});
