import { describe, expect, it } from 'vitest';
import { asciiLower, signedHostCandidates } from './signed-host.js';

describe('signedHostCandidates', () => {
  it('tries only the written authority when it is already lowercase', () => {
    expect(signedHostCandidates({ host: 'db.example', port: 5432, signedHost: 'db.example:5432' })).toEqual(['db.example:5432']);
  });

  it('adds the lowercased authority that botocore signs for a mixed-case host', () => {
    expect(signedHostCandidates({ host: 'DB.Example', port: 3306, signedHost: 'DB.Example:3306' })).toEqual([
      'DB.Example:3306',
      'db.example:3306',
    ]);
  });

  it('adds the lowercased bare host on port 443, where botocore drops the port', () => {
    expect(signedHostCandidates({ host: 'P.Example', port: 443, signedHost: 'P.Example:443' })).toEqual([
      'P.Example:443',
      'p.example:443',
      'p.example',
    ]);
  });

  it('signs a portless token over the host alone', () => {
    expect(signedHostCandidates({ host: 'db', port: undefined, signedHost: 'db' })).toEqual(['db']);
  });
});

describe('asciiLower', () => {
  it('lowercases ASCII letters only', () => {
    expect(asciiLower('AbC-\u212A-\u0130')).toBe('abc-\u212A-\u0130');
  });
});
