// The Content-Transfer-Encoding of a MIME body undone (base64, quoted-printable; anything else is the bytes as
// they are), for the parts the parser and the bounce reader decode themselves rather than through postal-mime.

/** `encoding` lower-cased and trimmed; the result may share memory with `body`. */
export function decodeTransfer(body: Buffer, encoding: string): Buffer {
  switch (encoding) {
    case 'base64':
      return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/]/g, ''), 'base64');
    case 'quoted-printable': {
      const text = body.toString('latin1').replace(/=\r?\n/g, '');
      return Buffer.from(
        text.replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
        'latin1',
      );
    }
    default:
      return body;
  }
}
