import { describe, expect, it } from 'vitest';
import { pluginClause, rewriteAccountLine } from './account-visibility.js';

const iam = (a: { user: string; host: string }): boolean => a.user === 'alice' && a.host === '%';

describe('rewriteAccountLine', () => {
  it("replaces MariaDB's managed hash of an IAM account with the plugin clause", () => {
    const line = "GRANT USAGE ON *.* TO `alice`@`%` IDENTIFIED BY PASSWORD '*0123456789ABCDEF0123456789ABCDEF01234567'";
    expect(rewriteAccountLine(line, iam, pluginClause('mysql'))).toBe("GRANT USAGE ON *.* TO `alice`@`%` IDENTIFIED WITH 'AWSAuthenticationPlugin' AS 'RDS'");
  });

  it("replaces MySQL 8's caching_sha2_password hash of an IAM account", () => {
    const line = "CREATE USER `alice`@`%` IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$abcDEF0123456789abcdXyZ./9876543210abcdefghijABCDEFGHIJ' REQUIRE NONE";
    const out = rewriteAccountLine(line, iam, pluginClause('mysql'));
    expect(out).toBe("CREATE USER `alice`@`%` IDENTIFIED WITH 'AWSAuthenticationPlugin' AS 'RDS' REQUIRE NONE");
    expect(out).not.toContain('$A$005$');
  });

  it('leaves password accounts as the server shows them', () => {
    const line = "CREATE USER `bob`@`%` IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$abc' REQUIRE NONE";
    expect(rewriteAccountLine(line, iam, pluginClause('mysql'))).toBe(line);
  });
});
