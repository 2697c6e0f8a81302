// The config file: finds tspuma.config.{ts,mts,js,mjs} (or the -C path), imports it and makes
// its default export the option layer with the lowest precedence above the defaults.
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { TspumaError, showValue } from './errors.js';
import type { Layer } from './options.js';

export const CONFIG_FILES = ['tspuma.config.ts', 'tspuma.config.mts', 'tspuma.config.js', 'tspuma.config.mjs'] as const;

/** The config named by -C (must exist), else the first of CONFIG_FILES in cwd, else null. */
export function findConfig(explicit: string | undefined, explicitSource: string, cwd = process.cwd()): string | null {
  if (explicit !== undefined) {
    const file = isAbsolute(explicit) ? explicit : resolve(cwd, explicit);
    if (!existsSync(file)) throw new TspumaError('TSPUMA_ERR_CONFIG_NOT_FOUND', { path: file, source: explicitSource });
    return file;
  }
  return CONFIG_FILES.map((f) => resolve(cwd, f)).find((f) => existsSync(f)) ?? null;
}

export async function loadConfig(file: string): Promise<Layer> {
  // Loaded here, for a config file only: with the app loader come its adapters and request handling.
  const { importUserModule } = await import('./app-loader.js');
  const mod = await importUserModule(file, 'TSPUMA_ERR_CONFIG_LOAD');
  let config = mod.default;
  if (config && typeof config === 'object' && 'default' in config && Object.keys(config).length === 1) {
    config = (config as { default: unknown }).default; // CommonJS module.exports.default
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TspumaError('TSPUMA_ERR_CONFIG_SHAPE', { path: file, got: config === undefined ? 'no default export' : showValue(config) });
  }
  return {
    source: `config file ${displayPath(file)}`,
    values: { ...(config as Record<string, unknown>) },
    fromString: false,
    baseDir: dirname(file),
  };
}

/** A path relative to cwd when it is below cwd, else absolute. */
function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel === '' || rel.startsWith('..') ? file : rel;
}
