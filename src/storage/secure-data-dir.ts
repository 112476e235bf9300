// The data dir holds the SQLite file (every mail body), the blobs and the generated secret key: only the account
// that runs Conversa may enter it. Created 0700, and an existing one (made by an older version, or by hand with
// the default umask) is chmodded at every start.
import fs from 'node:fs';

/** Makes `dir` exist with mode 0700; false when it is someone else's and its mode could not be changed. */
export function secureDataDir(dir: string): boolean {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    fs.chmodSync(dir, 0o700);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EPERM') return false;
    throw error;
  }
}
