// Options: defaults, strict validation with sources, did-you-mean, precedence, freezing.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { TspumaError } from '../../server/errors.js';
import { DEFAULTS, OPTION_NAMES, resolveOptions, type Layer } from '../../server/options.js';
import { SLOWNESS } from '../helpers/net.js';

const config = (values: Record<string, unknown>): Layer => ({ source: 'config file tspuma.config.ts', values, fromString: false });
const cli = (values: Record<string, unknown>, origins: Record<string, string> = {}): Layer => ({ source: 'command line', values, origins, fromString: true });

function errorOf(fn: () => unknown): TspumaError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TspumaError) return err;
    throw err;
  }
  throw new Error('expected a TspumaError');
}

describe('resolveOptions', () => {
  it('keeps DEFAULTS alphabetised', () => {
    expect(OPTION_NAMES).toEqual([...OPTION_NAMES].sort());
  });

  it('applies defaults and binds 127.0.0.1:9292 in development, 0.0.0.0 otherwise', () => {
    const o = resolveOptions([]);
    expect(o.threads).toEqual(DEFAULTS.threads);
    expect(o.persistentTimeout).toBe(20);
    expect(o.bind.map((b) => `${b.host}:${b.port}`)).toEqual(['127.0.0.1:9292']);
    const prod = resolveOptions([config({ environment: 'production' })]);
    expect(prod.bind[0]!.host).toBe('0.0.0.0');
    expect(o.forceShutdownAfter).toBe(Infinity);
  });

  it('returns a frozen object', () => {
    const o = resolveOptions([]);
    expect(Object.isFrozen(o)).toBe(true);
    expect(Object.isFrozen(o.threads)).toBe(true);
    expect(() => {
      (o as { quiet: boolean }).quiet = true;
    }).toThrow();
  });

  // The request path reads options per request: a dictionary-mode object makes each read a hash
  // lookup through V8's LoadIC builtin (bench/README.md, session 17, perf15). Asked of V8 in a child
  // with its natives, from the built module, with a config layer and the defaults alike.
  it('returns an object V8 holds with fast properties, not as a dictionary', () => {
    const module = new URL('../../dist/server/options.js', import.meta.url).href;
    const script = `import(${JSON.stringify(module)}).then((m) => {
      const plain = m.resolveOptions([]);
      const layered = m.resolveOptions([{ source: 'config', values: { maxKeepAlive: 5, trustProxy: ['127.0.0.1'] }, fromString: false }]);
      console.log(JSON.stringify({ plain: %HasFastProperties(plain), layered: %HasFastProperties(layered), keys: Object.keys(plain).length, maxKeepAlive: layered.maxKeepAlive }));
    }).catch((e) => { console.error(e); process.exit(1); });`;
    const run = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', script], { encoding: 'utf8', timeout: 30_000 * SLOWNESS });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout.trim())).toEqual({ plain: true, layered: true, keys: Object.keys(resolveOptions([])).length, maxKeepAlive: 5 });
  });

  // N26: names users come with for `state` (Puma's state_path, the CLI's --state as a file) are too far from it to be guessed.
  it('suggests `state` for stateFile, statePath and Puma\'s state_path', () => {
    for (const key of ['stateFile', 'statePath', 'state_path']) {
      const err = errorOf(() => resolveOptions([config({ [key]: '/tmp/tspuma.state' })]));
      expect(err.code).toBe('TSPUMA_ERR_OPTION_UNKNOWN');
      expect(err.message, key).toBe(`Unknown option \`${key}\` (config file tspuma.config.ts, key \`${key}\`). Did you mean \`state\`?`);
    }
  });

  it('rejects an unknown key with a did-you-mean naming the source', () => {
    const err = errorOf(() => resolveOptions([config({ persistenTimeout: 3 })]));
    expect(err.code).toBe('TSPUMA_ERR_OPTION_UNKNOWN');
    expect(err.message).toContain('persistenTimeout');
    expect(err.message).toContain('Did you mean `persistentTimeout`?');
    expect(err.message).toContain('config file tspuma.config.ts');
  });

  it('names option, value, expectation and source for a wrong type or range', () => {
    const err = errorOf(() => resolveOptions([config({ firstDataTimeout: 'soon' })]));
    expect(err.code).toBe('TSPUMA_ERR_OPTION_INVALID');
    expect(err.message).toMatch(/firstDataTimeout.*config file tspuma.config.ts, key `firstDataTimeout`.*seconds.*"soon"/);
    const port = errorOf(() => resolveOptions([cli({ port: '70000' }, { port: '-p' })]));
    expect(port.message).toContain('-p in command line');
    expect(port.message).toContain('"70000"');
  });

  it('logLevel: info by default, debug does not raise it, quiet lowers it, bad names are refused', () => {
    expect(resolveOptions([]).logLevel).toBe('info');
    expect(resolveOptions([cli({ debug: true })]).logLevel).toBe('info');
    expect(resolveOptions([cli({ logLevel: 'DEBUG' })]).logLevel).toBe('debug');
    expect(resolveOptions([cli({ logLevel: 'debug', quiet: true })]).logLevel).toBe('warn');
    const err = errorOf(() => resolveOptions([{ source: 'environment', values: { logLevel: 'verbose' }, origins: { logLevel: 'TSPUMA_LOG_LEVEL' }, fromString: true }]));
    expect(err.code).toBe('TSPUMA_ERR_OPTION_INVALID');
    expect(err.message).toMatch(/TSPUMA_LOG_LEVEL.*one of trace, debug, info, warn, error|one of trace, debug, info, warn, error.*TSPUMA_LOG_LEVEL/);
    expect(err.message).toContain('"verbose"');
  });

  it('enforces threads min <= max', () => {
    const err = errorOf(() => resolveOptions([cli({ threads: '5:2' }, { threads: '-t' })]));
    expect(err.code).toBe('TSPUMA_ERR_OPTION_INVALID');
    expect(err.message).toContain('5:2');
    expect(err.message).toContain('-t in command line');
  });

  it('merges threads field by field across layers', () => {
    const o = resolveOptions([config({ threads: { min: 2, max: 8 } }), { source: 'environment', values: { threads: { max: 16 } }, fromString: true }]);
    expect(o.threads).toEqual({ min: 2, max: 16 });
  });

  it('lets higher layers win and records where each value came from', () => {
    const o = resolveOptions([config({ persistentTimeout: 5, quiet: true }), cli({ persistentTimeout: '7' }, { persistentTimeout: '--persistent-timeout' })]);
    expect(o.persistentTimeout).toBe(7);
    expect(o.quiet).toBe(true);
    expect(o.sources.quiet).toContain('config file');
  });

  it('lets PORT replace a bind list from a lower layer', () => {
    const o = resolveOptions([config({ bind: 'tcp://127.0.0.1:4000' }), { source: 'environment', values: { port: '5000' }, fromString: true }]);
    expect(o.bind.map((b) => b.port)).toEqual([5000]);
    const keep = resolveOptions([{ source: 'environment', values: { port: '5000' }, fromString: true }, cli({ bind: ['tcp://127.0.0.1:4000'] })]);
    expect(keep.bind.map((b) => b.port)).toEqual([4000]);
  });

  it('inspect: implied by debug at 127.0.0.1:9229, explicit values, off, and the port range', () => {
    expect(resolveOptions([]).inspect).toBeNull();
    expect(resolveOptions([cli({ debug: 'true' }, { debug: '-d' })]).inspect).toEqual({ host: '127.0.0.1', port: 9229, explicit: false });
    expect(resolveOptions([cli({ debug: 'true', inspect: 'off' }, { debug: '-d', inspect: '--inspect' })]).inspect).toBeNull();
    expect(resolveOptions([cli({ inspect: 'true' }, { inspect: '--inspect' })]).inspect).toEqual({ host: '127.0.0.1', port: 9229, explicit: true });
    expect(resolveOptions([cli({ inspect: '0.0.0.0:9300' }, { inspect: '--inspect' })]).inspect).toEqual({ host: '0.0.0.0', port: 9300, explicit: true });
    expect(resolveOptions([config({ inspect: '[::1]:9300' })]).inspect).toEqual({ host: '::1', port: 9300, explicit: true });
    expect(resolveOptions([config({ inspect: 0 })]).inspect).toEqual({ host: '127.0.0.1', port: 0, explicit: true });
    const bad = errorOf(() => resolveOptions([config({ inspect: 'host:99999' })]));
    expect(bad.code).toBe('TSPUMA_ERR_OPTION_INVALID');
    expect(bad.message).toContain('"host:99999"');
    const range = errorOf(() => resolveOptions([config({ inspect: 65534, workers: 4 })]));
    expect(range.code).toBe('TSPUMA_ERR_OPTION_CONFLICT');
    expect(range.message).toMatch(/inspect 65534 from config file .*workers 4/);
  });

  it('refuses Puma options with no meaning in Node with the reason', () => {
    expect(resolveOptions([cli({ workers: '2' }, { workers: '-w' })]).workers).toBe(2);
    const fork = errorOf(() => resolveOptions([config({ forkWorker: true })]));
    expect(fork.message).toContain('Node cannot fork a live heap');
    expect(resolveOptions([cli({ debug: 'true' }, { debug: '-d' })]).debug).toBe(true);
    expect(errorOf(() => resolveOptions([config({ redact: '(' })])).message).toMatch(/redact.*regular expression/);
    const conflict = errorOf(() => resolveOptions([config({ workerCheckInterval: 10, workerTimeout: 10 })]));
    expect(conflict.code).toBe('TSPUMA_ERR_OPTION_CONFLICT');
    expect(conflict.message).toMatch(/workerTimeout must be greater than workerCheckInterval.*workerTimeout 10 from config file/);
  });

  it('validates hooks, methods and the handler', () => {
    expect(errorOf(() => resolveOptions([config({ afterBooted: 'x' })])).message).toContain('a function or an array of functions');
    expect(errorOf(() => resolveOptions([config({ supportedHttpMethods: ['GET', 42] })])).code).toBe('TSPUMA_ERR_OPTION_INVALID');
    const o = resolveOptions([config({ supportedHttpMethods: ['get', 'post'] })]);
    expect(o.supportedHttpMethods).toEqual(new Set(['GET', 'POST']));
    expect(errorOf(() => resolveOptions([config({ lowlevelErrorHandler: 'x' })])).code).toBe('TSPUMA_ERR_OPTION_INVALID');
  });
});
