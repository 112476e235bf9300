// Big downloads where blobs are not files (PostgreSQL, issue 18): a first sync's message of several MB is written to
// a folder of its own under a local spool folder as it arrives, parsed from there by the parse pool (its big
// attachments decoded into files beside it), and its blobs then copied into the blob store a part at a time
// (BlobStore.putFile): neither the main thread nor a worker holds the message or an attachment whole. The folder is
// removed once its blobs are in the store, or when anything fails (the message is then synced again). One folder per
// download, so two downloads of the same bytes at once never share, nor remove, each other's files.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import {
  blobPathIn,
  putBlobFileStream,
  putBlobFromFile,
  type BlobRef,
  type BlobStore,
} from '../../storage/blob-store.js';
import type { Download, DownloadParser, ParsePool } from './parse-pool.js';

/** A download folder's removal; a failure to remove (already gone) is nothing to report. */
function removed(folder: string): Promise<void> {
  return rm(folder, { recursive: true, force: true }).catch(() => undefined);
}

/** The downloads of a sync whose blob store is `store`, spooled under `spoolDir` (made if missing). */
export function spooledDownloads(
  pool: Pick<ParsePool, 'parseDownload'>,
  spoolDir: string,
  store: BlobStore,
): DownloadParser {
  return {
    async store(content, signal) {
      const folder = path.join(spoolDir, randomBytes(8).toString('hex'));
      try {
        const ref = await putBlobFileStream(folder, content, signal ? { signal } : {});
        return { ref, files: { root: folder } };
      } catch (error) {
        await removed(folder);
        throw error;
      }
    },

    async parse(download: Download, options = {}) {
      const folder = download.files.root;
      try {
        const message = await pool.parseDownload(download, options);
        const blobs = message.blobs;
        if (blobs) {
          const refs = new Map<string, BlobRef>();
          for (const ref of [blobs.raw, ...blobs.attachments]) refs.set(ref.sha256, ref);
          for (const ref of refs.values()) {
            options.signal?.throwIfAborted();
            await putBlobFromFile(
              store,
              blobPathIn(folder, ref.sha256),
              ref,
              options.signal ? { signal: options.signal } : {},
            );
          }
        }
        return message;
      } finally {
        await removed(folder);
      }
    },
  };
}
