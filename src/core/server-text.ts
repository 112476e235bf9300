// A sentence the server shows a person (a status detail, a last error, why a send failed) as a stable code with
// parameters, beside the English words. The web app says it in the user's language from the code (`server.<code>` in
// its dictionaries) and falls back to the English. Raw words of another server (an SMTP reply) are parameters,
// never translated. Each producing module owns its closed list of codes; src/http/api-schemas.ts repeats them as
// z.enum (a test keeps the two equal).

export type TextParams = Record<string, string | number>;

export interface ServerText<Code extends string = string> {
  code: Code;
  params: TextParams;
  /** The English sentence, for logs and API users (and what older rows have alone). */
  message: string;
}

/** Parameters as stored in a `*_params_json` column; null when there are none. */
export function paramsToJson(params: TextParams | undefined): string | null {
  return params && Object.keys(params).length > 0 ? JSON.stringify(params) : null;
}

/** Tolerant reading: a broken or missing column gives no parameters rather than a failed page. */
export function paramsFromJson(json: string | null | undefined): TextParams {
  if (!json) return {};
  try {
    const value = JSON.parse(json) as unknown;
    if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
    const out: TextParams = {};
    for (const [key, v] of Object.entries(value as Record<string, unknown>))
      if (typeof v === 'string' || typeof v === 'number') out[key] = v;
    return out;
  } catch {
    return {};
  }
}
