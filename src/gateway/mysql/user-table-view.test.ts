import { describe, expect, it } from 'vitest';
import { rewriteUserTableQuery, userTableReference, userTableView } from './user-table-view.js';

const columns = ['Host', 'User', 'Password', 'plugin', 'authentication_string'];
const accounts = [{ user: "o'brien", host: '%' }];

describe('userTableReference', () => {
  it.each([
    "SELECT user FROM mysql.user WHERE plugin = 'AWSAuthenticationPlugin'",
    'select * from `mysql`.`user`;',
    'SELECT u.user FROM mysql.db d JOIN mysql.user u ON d.user = u.user',
    'SELECT 1 FROM t, mysql . user',
  ])('finds the reference in %s', (sql) => {
    expect(userTableReference(sql)).toBeDefined();
  });

  it.each([
    ['another table', 'SELECT * FROM mysql.users'],
    ['a qualified column', 'SELECT mysql.user.plugin FROM mysql.user'],
    ['two references', 'SELECT * FROM mysql.user a JOIN mysql.user b ON a.User = b.User'],
    ['a string', "SELECT 'FROM mysql.user'"],
    ['a comment', 'SELECT * FROM mysql.user /* x */'],
    ['a second statement', 'SELECT * FROM mysql.user; DROP TABLE t'],
    ['a backslash', "SELECT * FROM mysql.user WHERE user = 'a\\'"],
    ['not a SELECT', 'DELETE FROM mysql.user'],
    ['not after FROM', 'SELECT mysql.user'],
    ['an unclosed quote', "SELECT * FROM mysql.user WHERE user = 'x"],
  ])('leaves %s alone', (_what, sql) => {
    expect(userTableReference(sql)).toBeUndefined();
  });

  it('knows an alias from a clause keyword', () => {
    expect(userTableReference('SELECT * FROM mysql.user u')?.aliased).toBe(true);
    expect(userTableReference('SELECT * FROM mysql.user AS u')?.aliased).toBe(true);
    expect(userTableReference('SELECT * FROM mysql.user WHERE 1')?.aliased).toBe(false);
    expect(userTableReference('SELECT * FROM mysql.user')?.aliased).toBe(false);
  });
});

describe('rewriteUserTableQuery', () => {
  it('puts a view with the same columns in place of the table, names quoted as hex', () => {
    const out = rewriteUserTableQuery("SELECT user FROM mysql.user WHERE plugin = 'AWSAuthenticationPlugin'", columns, accounts);
    expect(out).toBe(
      "SELECT user FROM " +
        userTableView(columns, accounts) +
        " AS `user` WHERE plugin = 'AWSAuthenticationPlugin'",
    );
    expect(out).toContain(`CONVERT(X'${Buffer.from("o'brien").toString('hex')}' USING utf8mb4)`);
    expect(out).not.toContain("o'brien");
    expect(userTableView(columns, accounts)).toMatch(/^\(SELECT `Host`, `User`, IF\(.*, '', `Password`\) AS `Password`, IF\(.*, 'AWSAuthenticationPlugin', `plugin`\) AS `plugin`, IF\(.*, 'RDS', `authentication_string`\) AS `authentication_string` FROM mysql\.user\)$/);
  });

  it('matches no account when there is none', () => {
    expect(userTableView(columns, [])).toContain("IF(FALSE, 'AWSAuthenticationPlugin', `plugin`)");
  });

  it('keeps an alias the statement gave', () => {
    expect(rewriteUserTableQuery('SELECT u.plugin FROM mysql.user u', columns, accounts)).toMatch(/\) u$/);
  });
});
