/**
 * Keeps the error catalog, docs/errors.md, docs/audit.md and the wire forms in
 * step. The code table in docs/errors.md is generated from the catalog
 * (`node scripts/gen-docs.mjs`, UPDATE_DOCS=1) and checked here both ways.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { auditReasons } from '../audit/events.js';
import { catalog } from './catalog.js';
import type { ErrorSpec } from './types.js';

const root = new URL('../../', import.meta.url);
const read = (rel: string): string => readFileSync(fileURLToPath(new URL(rel, root)), 'utf8');
const errorsDocPath = fileURLToPath(new URL('docs/errors.md', root));
const BEGIN = '<!-- BEGIN GENERATED: error codes (src/errors/catalog.test.ts) -->';
const END = '<!-- END GENERATED: error codes -->';

const entries = Object.entries(catalog) as Array<[string, ErrorSpec]>;
const codes = new Set(entries.map(([code]) => code));
/** Domain prefixes in use: the part of each code before its first underscore (or the whole code). */
const prefixes = [...new Set(entries.map(([code]) => code.split('_')[0]!))];
const codeToken = new RegExp(`\\b(?:${prefixes.join('|')})(?:_[A-Z0-9]+)+\\b`, 'g');

function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\n/g, '\\n').replace(/</g, '&lt;');
}

function renderTable(): string {
  const lines = [
    '| Code | Kind | Audit reason | Message template |',
    '| --- | --- | --- | --- |',
    ...entries.map(([code, spec]) => `| \`${code}\` | ${spec.kind} | ${spec.audit ? `\`${spec.audit}\`` : ''} | ${cell(spec.message)} |`),
  ];
  return `${BEGIN}\n${lines.join('\n')}\n${END}`;
}

describe('error catalog', () => {
  it('uses UPPER_SNAKE codes with a domain prefix', () => {
    for (const [code] of entries) expect(code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
  });

  it('never leaves a hole for a token, password or secret in a message template', () => {
    const bad = entries.filter(([, spec]) => /\{(token|password|secret)\}/i.test(spec.message)).map(([code]) => code);
    expect(bad).toEqual([]);
  });

  it('gives every audit value a known or documented reason', () => {
    const auditDoc = read('docs/audit.md');
    const known = new Set<string>(auditReasons);
    const unknown = entries
      .filter(([, spec]) => spec.audit !== undefined && !known.has(spec.audit) && !auditDoc.includes(`\`${spec.audit}\``))
      .map(([code, spec]) => `${code}: ${spec.audit}`);
    expect(unknown).toEqual([]);
  });

  it('documents every audit reason of src/audit/events.ts in docs/audit.md', () => {
    const auditDoc = read('docs/audit.md');
    expect(auditReasons.filter((r) => !auditDoc.includes(`\`${r}\``))).toEqual([]);
  });
});

describe('docs/errors.md', () => {
  const doc = readFileSync(errorsDocPath, 'utf8');

  it('mentions every catalog code', () => {
    expect([...codes].filter((c) => !doc.includes(`\`${c}\``))).toEqual([]);
  });

  it('mentions no code the catalog lacks', () => {
    const tokens = new Set(doc.match(codeToken) ?? []);
    expect([...tokens].filter((t) => !codes.has(t))).toEqual([]);
  });

  it('has an up-to-date generated code table (run node scripts/gen-docs.mjs)', () => {
    const start = doc.indexOf(BEGIN);
    const end = doc.indexOf(END);
    expect(start, 'generated markers in docs/errors.md').toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    const fresh = renderTable();
    if (process.env['UPDATE_DOCS'] === '1') {
      writeFileSync(errorsDocPath, doc.slice(0, start) + fresh + doc.slice(end + END.length));
      return;
    }
    expect(doc.slice(start, end + END.length)).toBe(fresh);
  });

  it('states the wire forms the gateways actually send', () => {
    const pg = read('src/gateway/postgres/session.ts');
    const my = read('src/gateway/mysql/session.ts') + read('src/gateway/mysql/command-relay.ts');
    const errno = read('src/protocol/mysql/errno.ts');
    expect(pg).toContain('PAM authentication failed for user "${startup.user}"');
    expect(pg).toContain('SSL off`');
    expect(pg).toContain('INVALID_AUTHORIZATION_SPECIFICATION');
    expect(my).toContain("Access denied for user '${user}'@'${host}' (using password: ");
    expect(errno).toMatch(/ER_ACCESS_DENIED_ERROR: \{ errno: 1045, sqlState: '28000' \}/);
    expect(errno).toMatch(/ER_NOT_SUPPORTED_YET: \{ errno: 1235,/);
    // A COM_CHANGE_USER beyond MariaDB's bound of refusals is an unknown command, as on the server.
    expect(my).toMatch(/MAX_FAILED_CHANGE_USER[\s\S]{0,300}ER_UNKNOWN_COM_ERROR/);
    expect(doc).toContain('FATAL: PAM authentication failed for user "<user>"');
    expect(doc).toContain('SSL off');
    expect(doc).toContain("ERROR 1045 (28000): Access denied for user '<user>'@'<client ip>' (using password: YES)");
    expect(doc).toContain('ERROR 1235 (42000)');
  });
});
