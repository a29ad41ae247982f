import { describe, expect, it } from 'vitest';
import { everySplit, typedFailure } from '../common/test-support.js';
import { encodeReadyForQuery } from './backend/index.js';
import { encodeTerminate } from './frontend/terminate.js';
import { ClientStreamTracker, RelayTracker, ServerStreamTracker } from './relay-tracker.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
// CommandComplete "SELECT 1", ReadyForQuery 'T', DataRow (empty), ReadyForQuery 'E', ReadyForQuery 'I'
const SERVER = hex('43 0000000d 53454c4543542031 00' + '5a 00000005 54' + '44 00000006 0000' + '5a 00000005 45' + '5a 00000005 49');

function scanServer(chunks: Buffer[]): { rfq: number; statuses: string[]; messages: number; boundary: boolean } {
  const t = new ServerStreamTracker();
  let rfq = 0;
  let messages = 0;
  const statuses: string[] = [];
  let boundary = true;
  for (const c of chunks) {
    const r = t.feed(c);
    rfq += r.readyForQuery;
    messages += r.messages;
    if (r.lastStatus) statuses.push(r.lastStatus);
    boundary = r.atBoundary;
  }
  return { rfq, statuses, messages, boundary };
}

describe('ServerStreamTracker', () => {
  it('counts ReadyForQuery and reports the last status', () => {
    const t = new ServerStreamTracker();
    const r = t.feed(SERVER);
    expect({ ...r }).toEqual({ readyForQuery: 3, lastStatus: 'I', messages: 5, atBoundary: true });
    expect(t.transactionStatus).toBe('I');
    expect(t.readyForQueryCount).toBe(3);
  });

  it('gives the same totals split at every offset', () => {
    for (const { label, chunks } of everySplit(SERVER)) {
      const got = scanServer(chunks);
      expect(got.rfq, label).toBe(3);
      expect(got.messages, label).toBe(5);
      expect(got.statuses.at(-1), label).toBe('I');
      expect(got.boundary, label).toBe(true);
    }
  });

  it('reports a chunk that ends mid-message', () => {
    const t = new ServerStreamTracker();
    expect(t.feed(SERVER.subarray(0, 16)).atBoundary).toBe(false);
    expect(t.feed(SERVER.subarray(16, 20)).lastStatus).toBe('T');
  });

  it('reuses one result object (no allocation per chunk)', () => {
    const t = new ServerStreamTracker();
    expect(t.feed(SERVER)).toBe(t.feed(SERVER));
  });

  it('rejects lengths < 4, > cap and 4 GiB wraps before the body', () => {
    expect(typedFailure(() => new ServerStreamTracker().feed(hex('44 00000003')))).toBe('PROTO_BAD_LENGTH');
    expect(typedFailure(() => new ServerStreamTracker().feed(hex('44 ffffffff')))).toBe('PROTO_MESSAGE_TOO_LARGE');
    expect(typedFailure(() => new ServerStreamTracker({ maxMessageBytes: 100 }).feed(hex('44 00000065')))).toBe('PROTO_MESSAGE_TOO_LARGE');
    const split = new ServerStreamTracker();
    split.feed(hex('44 ff'));
    expect(typedFailure(() => split.feed(hex('ffffff')))).toBe('PROTO_MESSAGE_TOO_LARGE');
    expect(typedFailure(() => split.feed(hex('00')))).toBe('PROTO_DECODER_FAILED');
  });

  it('rejects a malformed ReadyForQuery', () => {
    expect(typedFailure(() => new ServerStreamTracker().feed(hex('5a 00000006 4949')))).toBe('PROTO_BAD_LENGTH');
    expect(typedFailure(() => new ServerStreamTracker().feed(hex('5a 00000005 58')))).toBe('PROTO_MALFORMED_MESSAGE');
  });
});

describe('ClientStreamTracker', () => {
  it('spots Terminate after other messages, across any split', () => {
    const stream = Buffer.concat([hex('51 0000000d 53454c4543542031 00'), encodeTerminate()]);
    for (const { label, chunks } of everySplit(stream)) {
      const t = new ClientStreamTracker();
      let seen = false;
      for (const c of chunks) seen = t.feed(c).terminate || seen;
      expect(seen, label).toBe(true);
      expect(t.terminated).toBe(true);
    }
  });

  it('enforces the client message cap and Terminate length', () => {
    expect(typedFailure(() => new ClientStreamTracker({ maxMessageBytes: 1024 }).feed(hex('51 00000401')))).toBe('PROTO_MESSAGE_TOO_LARGE');
    expect(typedFailure(() => new ClientStreamTracker().feed(hex('58 00000005 00')))).toBe('PROTO_BAD_LENGTH');
  });

  it('is wired both ways by RelayTracker', () => {
    const t = new RelayTracker();
    expect(t.feedServer(encodeReadyForQuery({ status: 'T' })).lastStatus).toBe('T');
    expect(t.feedClient(encodeTerminate()).terminate).toBe(true);
  });
});
