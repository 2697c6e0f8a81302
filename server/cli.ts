#!/usr/bin/env node
// The `tspuma` bin: a sub-command (ctl, inspect, probe, replay, doctor, dump) runs with only its
// own modules loaded; anything else is the command that serves (server/cli/serve.ts: options,
// debug mode, single mode, cluster mode or a worker). Coded errors end here (exit 1). The server's
// modules (options, logger, systemd, redaction) are not imported for a sub-command: they were
// about 50 ms of CPU at each `tspuma ctl|probe|inspect` start.

/** `tspuma dump [--all-frames] FILE.json`: prints a saved dump as text (every frame in full with --all-frames). */
const DUMP_USAGE = 'usage: tspuma dump [--all-frames] FILE.json';

async function dumpCommand(argv: string[]): Promise<number> {
  const allFrames = argv.includes('--all-frames');
  const args = argv.filter((a) => a !== '--all-frames');
  const { TspumaError } = await import('./errors.js');
  if (args.length !== 1) throw new TspumaError('TSPUMA_ERR_CLI_USAGE', { problem: DUMP_USAGE, source: 'command line' });
  const { readFileSync } = await import('node:fs');
  const { renderText } = await import('../diagnostics/render.js');
  let dump: import('../diagnostics/model.js').Dump;
  // The file's name is never followed by `: ` (the redaction of the error line would read a name
  // such as passwd or token.json as a secret's key and the reason as its value: review12.6).
  let text: string;
  try {
    text = readFileSync(args[0]!, 'utf8');
  } catch (err) {
    throw new TspumaError('TSPUMA_ERR_CLI_USAGE', { problem: `cannot read the dump file ${args[0]} (${(err as Error).message})`, source: 'command line' });
  }
  try {
    dump = JSON.parse(text) as import('../diagnostics/model.js').Dump;
  } catch (err) {
    throw new TspumaError('TSPUMA_ERR_CLI_USAGE', { problem: `${args[0]} is not a tspuma dump: it is not JSON (${(err as Error).message})`, source: 'command line' });
  }
  if (dump?.version !== 1 || !Array.isArray(dump.frames)) {
    throw new TspumaError('TSPUMA_ERR_CLI_USAGE', { problem: `${args[0]} is not a tspuma dump (version 1)`, source: 'command line' });
  }
  process.stdout.write(`${renderText(dump, process.stdout.isTTY === true, { allFrames, valuesFile: args[0]! })}\n`);
  return 0;
}

/** Each sub-command: its module's USAGE text and how it runs. */
const SUBCOMMANDS: Record<string, { usage: () => Promise<string>; run: (args: string[]) => Promise<number> }> = {
  dump: { usage: async () => DUMP_USAGE, run: dumpCommand },
  ctl: { usage: async () => (await import('./cli/ctl.js')).USAGE, run: async (args) => (await import('./cli/ctl.js')).ctl(args) },
  inspect: { usage: async () => (await import('./cli/inspect.js')).USAGE, run: async (args) => (await import('./cli/inspect.js')).inspect(args) },
  probe: { usage: async () => (await import('./cli/probe.js')).USAGE, run: async (args) => (await import('./cli/probe.js')).probe(args) },
  replay: { usage: async () => (await import('./cli/replay.js')).USAGE, run: async (args) => (await import('./cli/replay.js')).replay(args) },
  doctor: { usage: async () => (await import('./cli/doctor.js')).USAGE, run: async (args) => (await import('./cli/doctor.js')).doctor(args) },
};

/** The serving command's module, once loaded: its failures are reported (and dumped) by it. */
let serving: typeof import('./cli/serve.js') | null = null;

async function main(argv: string[]): Promise<number> {
  const sub = Object.hasOwn(SUBCOMMANDS, argv[0] ?? '') ? SUBCOMMANDS[argv[0]!]! : null;
  if (sub) {
    // `tspuma ctl --help`: the sub-command's usage on stdout, exit 0.
    if (argv.slice(1).some((a) => a === '--help' || a === '-h')) {
      process.stdout.write(`${await sub.usage()}\n`);
      return 0;
    }
    return sub.run(argv.slice(1));
  }
  // Before anything that serves: a full GC while no tick is queued must not cost every later
  // process.nextTick the runtime's path (tick-object-shape.ts).
  (await import('./tick-object-shape.js')).keepTickObjectShape();
  serving = await import('./cli/serve.js');
  // Called as a plain function: a dump's frame reads `serve`, not `Module.serve` with the module as receiver.
  const { serve } = serving;
  return serve(argv);
}

async function report(err: unknown): Promise<void> {
  if (serving) return serving.report(err);
  const [{ isTspumaError }, { Redactor }] = await Promise.all([import('./errors.js'), import('../diagnostics/redact.js')]);
  if (isTspumaError(err)) process.stderr.write(`tspuma: ${err.code}: ${new Redactor().query(err.message)}\n`);
  else process.stderr.write(`tspuma: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
}

main(process.argv.slice(2)).then(
  (code) => {
    serving?.closeDiagnostics();
    // Exit now: app timers or handles left behind must not keep a stopped server alive.
    process.exit(process.exitCode || code);
  },
  async (err: unknown) => {
    await report(err);
    serving?.closeDiagnostics();
    process.exit(1);
  },
);
