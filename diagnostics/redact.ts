// Created by dumps.ts for every dump, before it leaves the process (stderr, files, handler,
// 500 page); hands back the same values with secrets replaced by "[redacted]".

export const REDACTED = '[redacted]';
export const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);
/** Names of locals and properties whose values never leave the process. */
export const DEFAULT_SECRET_NAMES = 'password|passwd|secret|token|api[-_]?key|credential|private';

export class Redactor {
  readonly pattern: RegExp;

  constructor(extra?: string | null) {
    this.pattern = new RegExp(extra ? `${DEFAULT_SECRET_NAMES}|${extra}` : DEFAULT_SECRET_NAMES, 'i');
  }

  isSecretName(name: string): boolean {
    return this.pattern.test(name);
  }

  /** A header name whose value is secret (in raw header arrays). */
  isSecretHeader(name: string): boolean {
    return SECRET_HEADERS.has(name.toLowerCase());
  }

  /** Values that are credentials whatever they are called: "Bearer …", "Basic …". */
  isSecretValue(value: string): boolean {
    return /^(Bearer|Basic|Digest|Token)\s+\S/i.test(value);
  }

  /** Request headers with secret headers (and secret-looking names) redacted. */
  headers(headers: Record<string, string | string[] | undefined>, applied: string[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      if (SECRET_HEADERS.has(name.toLowerCase()) || this.isSecretName(name)) {
        out[name] = REDACTED;
        applied.push(`header ${name.toLowerCase()}`);
      } else out[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    return out;
  }
}
