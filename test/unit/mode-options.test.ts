// No option is silently ignored: each option only one way of running reads (cluster mode, single
// mode, the CLI's own process) gets a coded warning naming it, its source and the mode when it is
// set where nothing reads it; and every option documented as cluster-only is in that table.
import { describe, expect, it } from 'vitest';
import { CLUSTER_ONLY, ignoredOptions } from '../../server/mode-options.js';
import { RECORDS } from '../../server/option-records.js';
import { resolveOptions } from '../../server/options.js';

const config = (values: Record<string, unknown>) => resolveOptions([{ source: 'config file ./tspuma.config.mjs', values, fromString: false }]);
const names = (errs: ReturnType<typeof ignoredOptions>) => errs.map((e) => e.params.name);

describe('ignoredOptions', () => {
  it('names cluster-only options set in single mode, with their source and why', () => {
    const o = config({ workerTimeout: 30, preload: true, beforeWorkerBoot: [() => {}], balanceBusyWorkers: true });
    const errs = ignoredOptions(o, 'single');
    expect(names(errs)).toEqual(['balanceBusyWorkers', 'beforeWorkerBoot', 'preload', 'workerTimeout']);
    expect(errs.every((e) => e.code === 'TSPUMA_ERR_OPTION_MODE')).toBe(true);
    expect(errs[3]!.message).toBe(
      'Option `workerTimeout` (config file ./tspuma.config.mjs, key `workerTimeout`) has no effect in single mode (-w 0): the primary watches its workers with it, and single mode has none; run single mode under a supervisor that restarts it.',
    );
    expect(ignoredOptions(o, 'cluster')).toEqual([]);
  });

  it('names idleTimeout in cluster mode only', () => {
    const o = config({ idleTimeout: 60 });
    expect(names(ignoredOptions(o, 'cluster'))).toEqual(['idleTimeout']);
    expect(ignoredOptions(o, 'cluster')[0]!.message).toContain('has no effect in cluster mode (-w N)');
    expect(ignoredOptions(o, 'single')).toEqual([]);
  });

  it('names what only the CLI\'s process reads when the server is embedded with start()', () => {
    const o = config({ state: 'tspuma.state', controlUrl: 'tcp://127.0.0.1:9293', inspect: true });
    expect(names(ignoredOptions(o, 'embedded'))).toEqual(['controlUrl', 'inspect', 'state']);
    expect(ignoredOptions(o, 'single')).toEqual([]);
  });

  it('names the control token and probe limits set without a control app', () => {
    const o = config({ controlToken: 'a-long-token-with-variety-1234', probeMax: 3 });
    expect(names(ignoredOptions(o, 'cluster'))).toEqual(['controlToken', 'probeMax']);
    expect(ignoredOptions(config({ ...{ controlToken: 'a-long-token-with-variety-1234', probeMax: 3 }, controlUrl: 'tcp://127.0.0.1:0' }), 'cluster')).toEqual([]);
  });

  it('says nothing of defaults, or of an empty hook list', () => {
    expect(ignoredOptions(resolveOptions([]), 'single')).toEqual([]);
    expect(ignoredOptions(resolveOptions([]), 'cluster')).toEqual([]);
    expect(ignoredOptions(config({ beforeFork: [] }), 'single')).toEqual([]);
  });

  it('covers every option whose documentation says it is for cluster mode', () => {
    const documented = Object.entries(RECORDS).filter(([, r]) => /^Cluster\b/.test(r.doc)).map(([name]) => name).sort();
    expect(documented.length).toBeGreaterThan(5);
    expect(documented.filter((n) => !(n in CLUSTER_ONLY))).toEqual([]);
  });
});
