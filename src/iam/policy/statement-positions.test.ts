import { describe, expect, it } from 'vitest';
import { statementPositions } from './statement-positions.js';

describe('statementPositions', () => {
  it('finds each statement of a pretty-printed document (1-based lines and columns, braces inclusive)', () => {
    const text = [
      '{',
      '  "Version": "2012-10-17",',
      '  "Statement": [',
      '    {',
      '      "Effect": "Allow",',
      '      "Action": "s3:*",',
      '      "Resource": "*"',
      '    },',
      '    {"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"}',
      '  ]',
      '}',
    ].join('\n');
    expect(statementPositions(text)).toEqual([
      { start: { line: 4, column: 5 }, end: { line: 8, column: 5 } },
      { start: { line: 9, column: 5 }, end: { line: 9, column: 63 } },
    ]);
  });

  it('handles a single statement object, one-line documents and CRLF line ends', () => {
    expect(statementPositions('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}')).toEqual([
      { start: { line: 1, column: 37 }, end: { line: 1, column: 82 } },
    ]);
    expect(statementPositions('{\r\n"Statement":[\r\n{"Effect":"Allow"}]}')).toEqual([{ start: { line: 3, column: 1 }, end: { line: 3, column: 18 } }]);
  });

  it('is not fooled by braces, brackets, quotes and a "Statement" inside strings or nested objects', () => {
    const text = '{"Id":"a \\"Statement\\": [{ }","Other":{"Statement":[1]},"Statement":[{"Sid":"x}]","Condition":{"StringLike":{"k":["{["]}}}]}';
    const spans = statementPositions(text)!;
    expect(spans).toHaveLength(1);
    const from = spans[0]!.start.column - 1;
    const to = spans[0]!.end.column - 1;
    expect(JSON.parse(text.slice(from, to + 1))).toEqual(JSON.parse(text).Statement[0]);
  });

  it('counts a tab as one column and takes the last of duplicate Statement keys, as JSON.parse does', () => {
    expect(statementPositions('{"Statement":[{}],\n\t"Statement":[{},{}]}')).toEqual([
      { start: { line: 2, column: 15 }, end: { line: 2, column: 16 } },
      { start: { line: 2, column: 18 }, end: { line: 2, column: 19 } },
    ]);
  });

  it('answers undefined for text that is not a policy object', () => {
    expect(statementPositions('[]')).toBeUndefined();
    expect(statementPositions('{"Version":"2012-10-17"}')).toBeUndefined();
    expect(statementPositions('{"Statement":[{"Effect":"Allow"')).toBeUndefined();
  });
});
