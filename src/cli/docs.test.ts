/**
 * docs/cli.md carries the help text of every command, generated from
 * `buildProgram` (commander's helpInformation). This test fails when it is
 * stale; `node scripts/gen-docs.mjs` (UPDATE_DOCS=1) rewrites it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from './index.js';

const docPath = fileURLToPath(new URL('../../docs/cli.md', import.meta.url));
const BEGIN = '<!-- BEGIN GENERATED: command help (src/cli/docs.test.ts) -->';
const END = '<!-- END GENERATED: command help -->';

function allCommands(cmd: Command, prefix: string[] = []): Array<{ path: string; cmd: Command }> {
  const path = [...prefix, cmd.name()];
  return [{ path: path.join(' '), cmd }, ...cmd.commands.flatMap((c) => allCommands(c, path))];
}

function renderHelp(): string {
  const program = buildProgram({ out: () => {}, err: () => {}, env: {} });
  program.configureHelp({ helpWidth: 100 });
  const parts = allCommands(program).map(({ path, cmd }) => {
    cmd.configureHelp({ helpWidth: 100 });
    return `### \`${path}\`\n\n\`\`\`\n${cmd.helpInformation().trimEnd()}\n\`\`\``;
  });
  return `${BEGIN}\n${parts.join('\n\n')}\n${END}`;
}

describe('docs/cli.md', () => {
  const doc = readFileSync(docPath, 'utf8');

  it('has the current help of every command (run node scripts/gen-docs.mjs)', () => {
    const start = doc.indexOf(BEGIN);
    const end = doc.indexOf(END);
    expect(start, 'generated markers in docs/cli.md').toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    const fresh = renderHelp();
    if (process.env['UPDATE_DOCS'] === '1') {
      writeFileSync(docPath, doc.slice(0, start) + fresh + doc.slice(end + END.length));
      return;
    }
    expect(doc.slice(start, end + END.length)).toBe(fresh);
  });

  it('describes every option of every command outside the generated help too', () => {
    const program = buildProgram({ out: () => {}, err: () => {}, env: {} });
    const prose = doc.slice(0, doc.indexOf(BEGIN));
    const missing: string[] = [];
    for (const { path, cmd } of allCommands(program)) {
      if (path !== 'iamdb' && !prose.includes(`\`${path}`)) missing.push(path);
      for (const opt of cmd.options) if (opt.long && !prose.includes(opt.long)) missing.push(`${path} ${opt.long}`);
    }
    expect(missing).toEqual([]);
  });
});
