/**
 * Audit sinks: where events go. The file sink appends JSON lines; the memory
 * sink keeps them for tests. Both scrub anything that looks like a token, as a
 * last line of defence: callers already never pass secrets.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import type { AuditEvent } from './events.js';

export interface AuditSink {
  write(event: AuditEvent): void;
  close(): Promise<void>;
}

const TOKEN_LIKE = /X-Amz-(Signature|Security-Token|Credential)=[^\s"&]*/g;

/** Serialises an event, redacting token fragments should any slip in. */
export function serializeAuditEvent(event: AuditEvent): string {
  return JSON.stringify(event).replace(TOKEN_LIKE, (m) => `${m.slice(0, m.indexOf('=') + 1)}[REDACTED]`);
}

/** Appends JSON lines to a file (created 0600), or to stdout for '-'. */
export function createFileAuditSink(path: string): AuditSink {
  let stream: WriteStream | NodeJS.WriteStream;
  if (path === '-') {
    stream = process.stdout;
  } else {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    stream = createWriteStream(path, { flags: 'a', mode: 0o600 });
  }
  // Events of one event-loop turn go out in one write: under a login storm
  // that is one syscall for many decisions, and none waits longer than a turn.
  // The turn's lines are joined here and handed to the stream once, rather
  // than written one by one into a corked stream, which costs a buffered
  // entry per line and a writev of them all at the uncork.
  let pending: string[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.length === 1 ? pending[0]! : pending.join('');
    pending = [];
    stream.write(text);
  };
  return {
    write(event) {
      pending.push(`${serializeAuditEvent(event)}\n`);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    close() {
      flush();
      if (stream === process.stdout) return Promise.resolve();
      return new Promise((resolve) => (stream as WriteStream).end(resolve));
    },
  };
}

/** Keeps events in memory; for tests and the doctor. */
export function createMemoryAuditSink(): AuditSink & {
  readonly events: AuditEvent[];
  lines(): string[];
  /** The first event from index `from` on that matches: already written, or when it is (events reach the sink after the wire has moved on). */
  until(match: (e: AuditEvent) => boolean, from?: number): Promise<AuditEvent>;
} {
  const events: AuditEvent[] = [];
  const waiting = new Set<{ match: (e: AuditEvent) => boolean; resolve: (e: AuditEvent) => void }>();
  return {
    events,
    write(event) {
      events.push(event);
      for (const w of waiting) {
        if (!w.match(event)) continue;
        waiting.delete(w);
        w.resolve(event);
      }
    },
    lines() {
      return events.map(serializeAuditEvent);
    },
    until(match, from = 0) {
      const seen = events.slice(from).find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => waiting.add({ match, resolve }));
    },
    close: () => Promise.resolve(),
  };
}

/** Sends every event to each sink. */
export function teeAuditSinks(...sinks: AuditSink[]): AuditSink {
  return {
    write(event) {
      for (const s of sinks) s.write(event);
    },
    async close() {
      await Promise.all(sinks.map((s) => s.close()));
    },
  };
}
