// A blob store where every blob written piece by piece fails (a full disk, as far as such a write can tell): those writes
// start in the folder of the all-zero hash (BlobFileWriter), which is made a file. Whole-blob writes elsewhere still work.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { putBlobFileSync, type BlobRef } from '../../src/storage/blob-store.js';
import { makeMessage } from './make-message.js';

/** Stores a message with an `attachmentBytes` attachment under `root`, then blocks piece-by-piece writes there. */
export function storedMessageWithBlockedWrites(root: string, attachmentBytes: number): BlobRef {
  for (;;) {
    const raw = Buffer.from(
      makeMessage({
        from: 'a@example.com',
        to: ['b@example.com'],
        attachment: {
          filename: 'a.bin',
          contentType: 'application/octet-stream',
          content: randomBytes(attachmentBytes),
        },
      }),
    );
    const ref = putBlobFileSync(root, raw);
    // The message itself must not live in the folder that is blocked.
    if (ref.sha256.startsWith('00')) continue;
    writeFileSync(path.join(root, '00'), 'in the way');
    return ref;
  }
}
