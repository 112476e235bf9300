// Types for what test/global-setup.ts provide()s, so inject('dovecot') / inject('radicale') are typed.

import type { DovecotInfo } from './servers/dovecot.js';
import type { RadicaleInfo } from './servers/radicale.js';

declare module 'vitest' {
  export interface ProvidedContext {
    dovecot: DovecotInfo;
    radicale: RadicaleInfo;
  }
}
