/** A setting in the environment (or the data dir) that Conversa cannot start with. */
export class ConfigError extends Error {}
