// Dumps on GitHub Actions: the `::error` annotation of a dump's culprit, with its path relative
// to GITHUB_WORKSPACE (the repository root, so it lands on the PR's diff even when the tests run
// in a package folder), and a Markdown section per failure site appended to GITHUB_STEP_SUMMARY
// (the failure, the culprit line linked at the commit, the dump file, the run's artifacts).
import { appendFileSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { Dump } from './model.js';
import { oneLine } from './redact.js';

export interface GithubContext {
  /** GITHUB_WORKSPACE: paths are given relative to it. */
  readonly workspace: string | null;
  /** GITHUB_STEP_SUMMARY: the file the step's Markdown summary is appended to. */
  readonly summary: string | null;
  /** The folder frame paths are relative to (process.cwd()). */
  readonly cwd: string;
  readonly serverUrl: string | null;
  readonly repository: string | null;
  readonly runId: string | null;
  readonly sha: string | null;
}

export function githubContext(env: NodeJS.ProcessEnv, cwd = process.cwd()): GithubContext | null {
  if (env.GITHUB_ACTIONS !== 'true') return null;
  const or = (v: string | undefined) => (v ? v : null);
  return {
    workspace: or(env.GITHUB_WORKSPACE),
    summary: or(env.GITHUB_STEP_SUMMARY),
    cwd,
    serverUrl: or(env.GITHUB_SERVER_URL) ?? 'https://github.com',
    repository: or(env.GITHUB_REPOSITORY),
    runId: or(env.GITHUB_RUN_ID),
    sha: or(env.GITHUB_SHA),
  };
}

/** A path as GitHub names files: relative to the workspace with `/`, or as it is when outside it (or without a workspace). */
export function workspacePath(file: string, gh: GithubContext | null): string {
  if (!gh?.workspace) return file;
  const abs = isAbsolute(file) ? file : resolve(gh.cwd, file);
  const rel = relative(gh.workspace, abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return file;
  return rel.split(sep).join('/');
}

// The runner's own escapes for line breaks; any other control character (ESC: a terminal escape
// sequence in the job log) as `\u001b`.
const escapeCommand = (s: string) => oneLine(s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A'));
const escapeProperty = (s: string) => escapeCommand(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

/** The `::error` workflow command for a dump's culprit frame, or null without one. */
export function annotation(dump: Dump, gh: GithubContext | null): string | null {
  const culprit = dump.frames[dump.culprit];
  if (!culprit) return null;
  const file = escapeProperty(workspacePath(culprit.file, gh));
  return `::error file=${file},line=${culprit.line},col=${culprit.column},title=${escapeProperty(`tspuma dump #${dump.id} [${dump.phase}]`)}::${escapeCommand(`${dump.error.name}: ${dump.error.message}`)}\n`;
}

/** Markdown-inert text on one line: HTML and Markdown punctuation escaped, newlines folded. */
function inline(text: string, max = 300): string {
  const one = text.replace(/\s*[\r\n]+\s*/g, ' ').slice(0, max);
  // Every line it goes into starts with text of tspuma's, so only inline syntax matters: links, code, emphasis, HTML, tables.
  return one.replace(/[\\`*_[\]<>|&]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : `\\${c}`));
}

/** The step summary's section for one dump. */
export function summarySection(dump: Dump, path: string | null, gh: GithubContext): string {
  const lines = [`### tspuma dump #${dump.id} [${dump.phase}] ${inline(`${dump.error.name}: ${dump.error.message}`)}`, ''];
  const culprit = dump.frames[dump.culprit];
  if (culprit) {
    const file = workspacePath(culprit.file, gh);
    const where = `${file}:${culprit.line}`;
    const relativeToRepo = file !== culprit.file || (!isAbsolute(file) && !!gh.workspace);
    const link = relativeToRepo && gh.repository && gh.sha ? `[${inline(where)}](${gh.serverUrl}/${gh.repository}/blob/${gh.sha}/${encodeURI(file)}#L${culprit.line})` : `\`${where.replace(/`/g, "'")}\``;
    lines.push(`- culprit: ${link} in \`${(culprit.function || '(anonymous)').replace(/`/g, "'")}\``);
  }
  lines.push(`- site: \`${dump.site.replace(/`/g, "'")}\`${dump.request ? `, request \`${inline(`${dump.request.method} ${dump.request.url}`, 200).replace(/`/g, "'")}\`` : ''}`);
  if (path) {
    const artifacts = gh.repository && gh.runId ? ` (upload the dump folder as an artifact: [this run's artifacts](${gh.serverUrl}/${gh.repository}/actions/runs/${gh.runId}#artifacts))` : '';
    lines.push(`- dump: \`${workspacePath(path, gh).replace(/`/g, "'")}\` and its \`.txt\`${artifacts}`);
  }
  return `\n${lines.join('\n')}\n`;
}

/** Appends the dump's section to GITHUB_STEP_SUMMARY; the reason when it could not. */
export function appendSummary(dump: Dump, path: string | null, gh: GithubContext): string | null {
  if (!gh.summary) return null;
  try {
    appendFileSync(gh.summary, summarySection(dump, path, gh));
    return null;
  } catch (err) {
    return `could not append to GITHUB_STEP_SUMMARY ${gh.summary}: ${(err as Error).message}`;
  }
}
