// The command line, TSPUMA_OPTS word splitting and the environment layer.
import { describe, expect, it } from 'vitest';
import { FLAGS, argsLayer, envLayer, helpText, parseArgs, splitWords } from '../../server/cli/args.js';
import { resolveOptions } from '../../server/options.js';
import { TspumaError } from '../../server/errors.js';

describe('parseArgs', () => {
  it('reads every form of flag', () => {
    const p = parseArgs(['-b', 'tcp://127.0.0.1:1', '--bind=unix://x.sock', '-p3000', '-t', '0:16', '-dq', '--log-requests', '-C', 'c.ts', 'app.ts'], 'command line');
    expect(p.values).toEqual({ bind: ['tcp://127.0.0.1:1', 'unix://x.sock'], port: '3000', threads: '0:16', debug: 'true', quiet: 'true', logRequests: 'true' });
    expect(p.origins.port).toBe('-p');
    expect(p.config).toBe('c.ts');
    expect(p.app).toBe('app.ts');
  });

  it('reads -t N as N:N, like Puma', () => {
    expect(parseArgs(['-t', '4'], 'x').values.threads).toBe('4:4');
  });

  // test/integration/cli.test.ts's 'refusing bad input' runs the CLI on one bad value of each kind
  // (a usage error, an option's check, a bind); the other values of each kind are checked here.
  it('refuses --fork-worker with a usage error saying Node has no equivalent', () => {
    const err = (() => {
      try {
        parseArgs(['--fork-worker', 'app.ts'], 'command line');
      } catch (e) {
        return e as TspumaError;
      }
      throw new Error('parseArgs accepted --fork-worker');
    })();
    expect(err).toBeInstanceOf(TspumaError);
    expect([err.code, err.message]).toEqual(['TSPUMA_ERR_CLI_USAGE', expect.stringMatching(/--fork-worker has no equivalent: Node cannot fork a live heap/)]);
  });

  it('a bad --inspect address from the command line: TSPUMA_ERR_OPTION_INVALID naming the flag, the forms it takes and the value', () => {
    const parsed = parseArgs(['--inspect=nowhere', 'app.ts'], 'command line');
    let err: unknown;
    try {
      resolveOptions([argsLayer(parsed, 'command line')]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TspumaError);
    expect((err as TspumaError).code).toBe('TSPUMA_ERR_OPTION_INVALID');
    expect((err as TspumaError).message).toMatch(/Option `inspect` \(--inspect in command line\) must be true, false, a port, or HOST:PORT.*got "nowhere"/);
  });

  it('rejects unknown flags with a suggestion, and missing values', () => {
    expect(() => parseArgs(['--thread', '1'], 'command line')).toThrow(/unknown option --thread\. Did you mean `--threads`\? \(command line\)\./);
    // With no near name, no stray stop before the source (review14.3: 'unknown option --frobnicate. (command line).').
    expect(() => parseArgs(['--frobnicate'], 'command line')).toThrow(/unknown option --frobnicate \(command line\)\. Run `tspuma --help`/);
    expect(() => parseArgs(['-b'], 'command line')).toThrow(/-b needs a value/);
    expect(() => parseArgs(['a.ts', 'b.ts'], 'command line')).toThrow(/one APP file expected/);
  });

  it("names the config file for an option that has no flag, spelt as a flag (review16: `--request-timeout 3` said only 'unknown option')", () => {
    expect(() => parseArgs(['--request-timeout', '3'], 'TSPUMA_OPTS')).toThrow(/unknown option --request-timeout: `requestTimeout` has no flag; set `requestTimeout: 3` in the config file \(tspuma\.config\.ts, or -C FILE\) \(TSPUMA_OPTS\)\./);
    expect(() => parseArgs(['--response-stall-timeout=5'], 'command line')).toThrow(/`responseStallTimeout` has no flag; set `responseStallTimeout: 5` in the config file/);
    expect(() => parseArgs(['--request-timeout', '3s'], 'command line')).toThrow(/set `requestTimeout: …` in the config file/);
  });

  it('takes a negative number after a flag as its value, so its range error names it (N20)', () => {
    expect(parseArgs(['--drain-delay', '-5', 'app.ts'], 'command line')).toMatchObject({ values: { drainDelay: '-5' }, app: 'app.ts' });
    expect(parseArgs(['-p', '-1'], 'command line').values.port).toBe('-1');
    expect(parseArgs(['-t', '-0.5'], 'command line').values.threads).toBe('-0.5');
    expect(() => resolveOptions([argsLayer(parseArgs(['--drain-delay', '-5'], 'command line'), 'command line')])).toThrow(/Option `drainDelay` \(--drain-delay in command line\) must be .*; got "-5"/);
    // A real flag after it is still a missing value.
    expect(() => parseArgs(['--drain-delay', '-w', '2'], 'command line')).toThrow(/--drain-delay needs a value/);
  });

  it('--inspect takes its value only inline, so `--inspect app.ts` keeps app.ts as the APP', () => {
    expect(parseArgs(['--inspect', 'app.ts'], 'command line')).toMatchObject({ values: { inspect: 'true' }, app: 'app.ts' });
    expect(parseArgs(['--inspect=127.0.0.1:9300'], 'command line').values.inspect).toBe('127.0.0.1:9300');
    expect(helpText('1.2.3')).toContain('--inspect[=HOST:PORT]');
  });

  it('documents every flag in --help with the precedence', () => {
    const help = helpText('1.2.3');
    for (const f of FLAGS) expect(help).toContain(`--${f.long}`);
    expect(help).toContain('command line > TSPUMA_OPTS > environment variables > config file > defaults');
  });
});

describe('splitWords', () => {
  it('splits like a shell', () => {
    expect(splitWords(` -d  --tag "my app" -b 'tcp://127.0.0.1:0?backlog=5' a\\ b `)).toEqual(['-d', '--tag', 'my app', '-b', 'tcp://127.0.0.1:0?backlog=5', 'a b']);
    expect(() => splitWords('--tag "open')).toThrow(/unterminated/);
  });
});

describe('envLayer', () => {
  it('maps the environment variables and names them as origins', () => {
    const l = envLayer({ PORT: '8080', WEB_CONCURRENCY: '0', TSPUMA_MAX_THREADS: '32', NODE_ENV: 'production' });
    expect(l.values).toEqual({ port: '8080', workers: '0', threads: { max: 32 }, environment: 'production' });
    expect(l.origins).toMatchObject({ port: 'PORT', threads: 'TSPUMA_MAX_THREADS', environment: 'NODE_ENV' });
    expect(() => envLayer({ TSPUMA_MIN_THREADS: 'lots' })).toThrow(/TSPUMA_MIN_THREADS.*"lots"/);
  });
});
