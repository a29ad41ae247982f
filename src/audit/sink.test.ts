import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from './events.js';
import { createFileAuditSink } from './sink.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function event(i: number, detail = 'ok'): AuditEvent {
  return {
    event: 'db.auth', time: new Date(0).toISOString(), decision: 'deny', reason: 'InvalidToken', engine: 'postgres',
    instance: 'i', endpoint: '127.0.0.1:1', source: '127.0.0.1', dbUser: `u${i}`, method: 'iam', tls: true, detail, sessionId: String(i),
  };
}

describe('file audit sink', () => {
  it('appends every event as one JSON line, in order, across event-loop turns, by close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iamdb-audit-'));
    dirs.push(dir);
    const path = join(dir, 'sub', 'audit.log');
    const sink = createFileAuditSink(path);
    for (let i = 0; i < 100; i++) sink.write(event(i));
    await new Promise((r) => setImmediate(r));
    for (let i = 100; i < 150; i++) sink.write(event(i));
    await sink.close();
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l).dbUser)).toEqual(Array.from({ length: 150 }, (_, i) => `u${i}`));
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('redacts token fragments that slip into an event', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iamdb-audit-'));
    dirs.push(dir);
    const path = join(dir, 'audit.log');
    const sink = createFileAuditSink(path);
    sink.write(event(1, 'h:5432/?Action=connect&X-Amz-Signature=abcdef0123'));
    await sink.close();
    const text = readFileSync(path, 'utf8');
    expect(text).not.toContain('abcdef0123');
    expect(text).toContain('X-Amz-Signature=[REDACTED]');
  });
});
