import { describe, expect, it } from 'vitest';
import { loadConfig } from './config/index.js';
import { checkIamSection } from './iam-runtime.js';

describe('checkIamSection', () => {
  it('reports every bad policy document of the config at once, with both paths', () => {
    const config = loadConfig({
      text: `
iam:
  users:
    - name: alice
      policies:
        - name: ok
          document: { Version: "2012-10-17", Statement: [{ Effect: Allow, Action: "rds-db:connect", Resource: "*" }] }
        - name: bad
          document: { Version: "2012-10-17", Statement: [{ Effect: Maybe, Action: "rds-db:connect", Resource: "*" }] }
  roles:
    - name: app
      assumeRolePolicy: { Version: "2012-10-17", Statement: [{ Effect: Allow, Action: "sts:AssumeRole" }] }
`,
    });
    const problems = checkIamSection(config);
    expect(problems.map((p) => p.path)).toEqual(['iam.users[0].policies[1].document', 'iam.roles[0].assumeRolePolicy']);
    expect(problems[0]!.message).toMatch(/^Statement\[0\]\.Effect/);
    expect(problems[1]!.message).toMatch(/Principal/);
  });
});
