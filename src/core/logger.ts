// The logger every layer writes to: pino's call shape (an object of fields, then an optional message), so the
// app's Fastify/pino logger is passed as is and a test can pass a stub. Declared once here; a part that needs
// only some levels asks for a `Pick` of it.

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
