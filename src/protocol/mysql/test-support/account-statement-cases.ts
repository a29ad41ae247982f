/**
 * The recognizer's table of statements and verdicts, shared by the unit test
 * (account-statements.test.ts) and the real-server test
 * (test/integration/mysql-account-statements.test.ts), which runs every row
 * marked 'mariadb' against a private MariaDB 10.11 and checks that the server
 * accepts it and that mysql.global_priv changes as the verdict says. Rows
 * marked 'mysql8-doc' are MySQL 8.0 syntax taken from its reference manual
 * (no MySQL 8 server exists here). Rows marked 'mariadb-ignored' are
 * accepted by MariaDB 10.11 but change nothing there (observed: ALTER USER
 * CURRENT_USER() IDENTIFIED ... succeeds and keeps the old password); the
 * verdict stays 'changes-auth', which MySQL 8 does. Rows marked 'none' are
 * not run anywhere (refusals, non-account statements, syntax the servers
 * reject).
 *
 * Accounts and objects the real-server test prepares: the accounts each
 * verdict names (present, or absent for CREATE USER and RENAME targets),
 * database d1 with table d1.t, role r1; the session's own account is a
 * separate login.
 */
import type { AccountRef, StatementVerdict } from '../account-statements.js';

/** Where a row's syntax is grounded. */
export type CaseSource = 'mariadb' | 'mariadb-ignored' | 'mysql8-doc' | 'none';

/** [statement, expected verdict as describeVerdict() writes it, source]. */
export type StatementCase = readonly [sql: string, expected: string, source: CaseSource];

function ref(r: AccountRef): string {
  return r.self ? `self:${r.spelling}` : `${r.user}@${r.host}`;
}

/**
 * A verdict in one line: `other`, `other: unread dynamic SQL`, `other: SET
 * NAMES gbk, not ASCII-transparent` (each character set change as `form
 * charset` with `?` for a value that is not a name and ` (global)` for the
 * global scope), `kill 42`, `kill query 42`,
 * `unknown: reason`, or `STATEMENT [flags]: effect, effect` with effects
 * `iam a@%`, `password a@%`, `plugin(unix_socket) a@%`, `password+retain a@%`,
 * `drop a@%`, `rename a@% > b@%`, `same a@%`, and `self:CURRENT_USER()` for the
 * session's own account.
 */
export function describeVerdict(v: StatementVerdict): string {
  switch (v.kind) {
    case 'other': {
      const notes: string[] = [];
      if (v.unreadDynamicSql === true) notes.push('unread dynamic SQL');
      for (const ch of v.clientCharset?.changes ?? []) notes.push(`${ch.form} ${ch.charset ?? '?'}${ch.scope === 'global' ? ' (global)' : ''}`);
      if (v.clientCharset !== undefined && !v.clientCharset.asciiTransparent) notes.push('not ASCII-transparent');
      return notes.length === 0 ? 'other' : `other: ${notes.join(', ')}`;
    }
    case 'kill':
      return `kill ${v.query ? 'query ' : ''}${v.connectionId}`;
    case 'unknown':
      return `unknown: ${v.reason}`;
    default: {
      const flags = [v.ifExists && 'if exists', v.ifNotExists && 'if not exists', v.orReplace && 'or replace'].filter(Boolean);
      const effects = v.effects.map((e) => {
        switch (e.action) {
          case 'becomes-iam':
            return `iam ${ref(e.account)}`;
          case 'changes-auth':
            return `${e.change}${e.plugin !== undefined ? `(${e.plugin})` : ''}${e.retainsCurrentPassword ? '+retain' : ''} ${ref(e.account)}`;
          case 'dropped':
            return `drop ${ref(e.account)}`;
          case 'renamed':
            return `rename ${ref(e.from)} > ${ref(e.to)}`;
          default:
            return `same ${ref(e.account)}`;
        }
      });
      return `${v.statement}${flags.length > 0 ? ` [${flags.join(', ')}]` : ''}: ${effects.join(', ')}`;
    }
  }
}

const AWS = "IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'";
const HASH = '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19';

/** The table. */
export const statementCases: readonly StatementCase[] = [
  // ---- becomes IAM, every account form
  [`CREATE USER 'app'@'%' ${AWS}`, 'CREATE USER: iam app@%', 'mariadb'],
  [`CREATE USER app IDENTIFIED WITH AWSAuthenticationPlugin AS "RDS"`, 'CREATE USER: iam app@%', 'mariadb'],
  [`create user \`a\`\`b\`@\`h\` identified with 'awsauthenticationplugin' as 'RDS'`, 'CREATE USER: iam a`b@h', 'mariadb'],
  [`CREATE USER "q"@"10.0.0.%" IDENTIFIED WITH \`AWSAuthenticationPlugin\` AS 'RDS'`, 'CREATE USER: iam q@10.0.0.%', 'mariadb'],
  [`CREATE USER bob@localhost ${AWS}`, 'CREATE USER: iam bob@localhost', 'mariadb'],
  [`CREATE USER bob@LocalHost ${AWS}`, 'CREATE USER: iam bob@localhost', 'mariadb'],
  [`CREATE USER bob@db.example.com ${AWS}`, 'CREATE USER: iam bob@db.example.com', 'mariadb'],
  [`CREATE USER bob@10.1.2.3 ${AWS}`, 'CREATE USER: iam bob@10.1.2.3', 'mariadb'],
  [`CREATE USER 'it''s' ${AWS}`, "CREATE USER: iam it's@%", 'mariadb'],
  [`CREATE USER 'ü' ${AWS}`, 'CREATE USER: iam ü@%', 'mariadb'],
  [`CREATE USER IF NOT EXISTS app2 ${AWS}`, 'CREATE USER [if not exists]: iam app2@%', 'mariadb'],
  [`CREATE USER a ${AWS}, b@h ${AWS} REQUIRE SSL`, 'CREATE USER: iam a@%, iam b@h', 'mariadb'],
  [`CREATE USER a ${AWS} REQUIRE SSL WITH MAX_USER_CONNECTIONS 5 MAX_STATEMENT_TIME 1.5 PASSWORD EXPIRE NEVER ACCOUNT UNLOCK`, 'CREATE USER: iam a@%', 'mariadb'],
  [`  /* lead */ CREATE -- c\n USER a # x\n IDENTIFIED /* y */ WITH AWSAuthenticationPlugin AS 'RDS' ;  `, 'CREATE USER: iam a@%', 'mariadb'],
  [`CREATE USER a ${AWS} COMMENT 'team: x'`, 'CREATE USER: iam a@%', 'mysql8-doc'],
  [`ALTER USER app ${AWS}`, 'ALTER USER: iam app@%', 'mariadb'],
  [`ALTER USER IF EXISTS 'app'@'%' ${AWS} REQUIRE SSL`, 'ALTER USER [if exists]: iam app@%', 'mariadb'],
  [`ALTER USER a ${AWS}, b ${AWS}`, 'ALTER USER: iam a@%, iam b@%', 'mariadb'],

  // ---- authentication changes: MariaDB forms
  ["SET PASSWORD FOR 'a'@'h' = PASSWORD('x')", 'SET PASSWORD: password a@h', 'mariadb'],
  ["SET PASSWORD FOR a = OLD_PASSWORD('x')", 'SET PASSWORD: password a@%', 'mariadb'],
  [`SET PASSWORD FOR a@'%' = '${HASH}'`, 'SET PASSWORD: password a@%', 'mariadb'],
  ["SET PASSWORD FOR a := PASSWORD('x')", 'SET PASSWORD: password a@%', 'mariadb'],
  ["SET PASSWORD = PASSWORD('x')", 'SET PASSWORD: password self:omitted', 'mariadb'],
  ["set password = 'x'", 'SET PASSWORD: password self:omitted', 'none'], // not a hash: MariaDB refuses it
  ["SET PASSWORD FOR CURRENT_USER() = PASSWORD('x')", 'SET PASSWORD: password self:CURRENT_USER()', 'mariadb'],
  ["SET PASSWORD FOR CURRENT_USER = PASSWORD('x')", 'SET PASSWORD: password self:CURRENT_USER', 'mariadb'],
  ["CREATE USER a IDENTIFIED BY 'x'", 'CREATE USER: password a@%', 'mariadb'],
  [`CREATE USER a IDENTIFIED BY PASSWORD '${HASH}'`, 'CREATE USER: password a@%', 'mariadb'],
  ['CREATE USER a', 'CREATE USER: no-password a@%', 'mariadb'],
  ["CREATE USER a, b@localhost IDENTIFIED BY 'x' PASSWORD EXPIRE INTERVAL 30 DAY", 'CREATE USER: no-password a@%, password b@localhost', 'mariadb'],
  ["CREATE OR REPLACE USER a IDENTIFIED BY 'x'", 'CREATE USER [or replace]: password a@%', 'mariadb'],
  ["CREATE OR REPLACE USER IF NOT EXISTS a", 'CREATE USER [if not exists, or replace]: no-password a@%', 'none'], // MariaDB: incompatible options
  ["ALTER USER a IDENTIFIED BY 'x'", 'ALTER USER: password a@%', 'mariadb'],
  [`ALTER USER a IDENTIFIED WITH mysql_native_password AS '${HASH}'`, 'ALTER USER: plugin(mysql_native_password) a@%', 'mariadb'],
  ["ALTER USER a IDENTIFIED VIA mysql_native_password USING PASSWORD('x')", 'ALTER USER: plugin(mysql_native_password) a@%', 'mariadb'],
  ["ALTER USER a IDENTIFIED VIA mysql_native_password USING PASSWORD('x') OR unix_socket", 'ALTER USER: plugin(mysql_native_password) a@%', 'mariadb'],
  ['ALTER USER a IDENTIFIED VIA unix_socket', 'ALTER USER: plugin(unix_socket) a@%', 'mariadb'],
  ["ALTER USER a IDENTIFIED VIA 'unix_socket'", 'ALTER USER: plugin(unix_socket) a@%', 'mariadb'],
  ['CREATE USER a IDENTIFIED WITH unix_socket', 'CREATE USER: plugin(unix_socket) a@%', 'mariadb'],
  ["ALTER USER CURRENT_USER() IDENTIFIED BY 'x'", 'ALTER USER: password self:CURRENT_USER()', 'mariadb-ignored'],
  ["ALTER USER CURRENT_USER IDENTIFIED VIA unix_socket", 'ALTER USER: plugin(unix_socket) self:CURRENT_USER', 'mariadb-ignored'],
  ["ALTER USER a IDENTIFIED BY 'x', b", 'ALTER USER: password a@%, same b@%', 'mariadb'],
  ["GRANT SELECT ON d1.* TO a IDENTIFIED BY 'x'", 'GRANT: password a@%', 'mariadb'],
  [`GRANT SELECT, INSERT (id) ON d1.t TO a IDENTIFIED BY PASSWORD '${HASH}', b WITH GRANT OPTION`, 'GRANT: password a@%, same b@%', 'mariadb'],
  ["GRANT r1 TO a IDENTIFIED BY 'x'", 'GRANT: password a@%', 'mariadb'],
  ["GRANT PROXY ON ''@'' TO a IDENTIFIED VIA unix_socket", 'GRANT: plugin(unix_socket) a@%', 'mariadb'],
  ["GRANT ALL ON d1.* TO CURRENT_USER IDENTIFIED BY 'x'", 'GRANT: password self:CURRENT_USER', 'mariadb'],

  // ---- authentication changes: MySQL 8 forms (from the MySQL 8.0 reference manual)
  ["ALTER USER USER() IDENTIFIED BY 'x'", 'ALTER USER: password self:USER()', 'mysql8-doc'],
  ["ALTER USER a IDENTIFIED BY 'x' REPLACE 'old' RETAIN CURRENT PASSWORD", 'ALTER USER: password+retain a@%', 'mysql8-doc'],
  ['ALTER USER a IDENTIFIED BY RANDOM PASSWORD', 'ALTER USER: random-password a@%', 'mysql8-doc'],
  ["ALTER USER a IDENTIFIED WITH caching_sha2_password BY 'x' RETAIN CURRENT PASSWORD", 'ALTER USER: plugin(caching_sha2_password)+retain a@%', 'mysql8-doc'],
  ['ALTER USER a IDENTIFIED WITH caching_sha2_password BY RANDOM PASSWORD', 'ALTER USER: random-password(caching_sha2_password) a@%', 'mysql8-doc'],
  ['ALTER USER a DISCARD OLD PASSWORD', 'ALTER USER: discard-old-password a@%', 'mysql8-doc'],
  ["ALTER USER a ADD 2 FACTOR IDENTIFIED WITH authentication_ldap_sasl AS 'uid=u'", 'ALTER USER: multi-factor a@%', 'mysql8-doc'],
  ["ALTER USER a MODIFY 2 FACTOR IDENTIFIED BY 'x' MODIFY 3 FACTOR IDENTIFIED BY RANDOM PASSWORD", 'ALTER USER: multi-factor a@%', 'mysql8-doc'],
  ['ALTER USER a DROP 2 FACTOR DROP 3 FACTOR', 'ALTER USER: multi-factor a@%', 'mysql8-doc'],
  ['ALTER USER a 2 FACTOR INITIATE REGISTRATION', 'ALTER USER: multi-factor a@%', 'mysql8-doc'],
  ["ALTER USER a 2 FACTOR FINISH REGISTRATION SET CHALLENGE_RESPONSE AS 'x'", 'ALTER USER: multi-factor a@%', 'mysql8-doc'],
  ['ALTER USER USER() 2 FACTOR UNREGISTER', 'ALTER USER: multi-factor self:USER()', 'mysql8-doc'],
  ["CREATE USER a IDENTIFIED BY 'x' AND IDENTIFIED WITH authentication_fido", 'CREATE USER: multi-factor a@%', 'mysql8-doc'],
  ['CREATE USER a IDENTIFIED WITH authentication_webauthn INITIAL AUTHENTICATION IDENTIFIED BY RANDOM PASSWORD', 'CREATE USER: multi-factor(authentication_webauthn) a@%', 'mysql8-doc'],
  ["CREATE USER a IDENTIFIED BY RANDOM PASSWORD DEFAULT ROLE r1, 'r2'@'%' PASSWORD HISTORY 5 PASSWORD REUSE INTERVAL 30 DAY PASSWORD REQUIRE CURRENT OPTIONAL FAILED_LOGIN_ATTEMPTS 3 PASSWORD_LOCK_TIME UNBOUNDED ATTRIBUTE '{}'", 'CREATE USER: random-password a@%', 'mysql8-doc'],
  ["SET PASSWORD FOR a = 'x' REPLACE 'old' RETAIN CURRENT PASSWORD", 'SET PASSWORD: password+retain a@%', 'mysql8-doc'],
  ['SET PASSWORD TO RANDOM', 'SET PASSWORD: random-password self:omitted', 'mysql8-doc'],
  ["SET PASSWORD FOR 'a'@'h' TO RANDOM REPLACE 'old'", 'SET PASSWORD: random-password a@h', 'mysql8-doc'],

  // ---- dropped, renamed, untouched
  ["DROP USER a, 'b'@'c'", 'DROP USER: drop a@%, drop b@c', 'mariadb'],
  ['DROP USER IF EXISTS `x`', 'DROP USER [if exists]: drop x@%', 'mariadb'],
  ['DROP USER CURRENT_USER()', 'DROP USER: drop self:CURRENT_USER()', 'none'], // would drop the test's own login
  ["RENAME USER a TO b, 'c'@'d' TO e@f", 'RENAME USER: rename a@% > b@%, rename c@d > e@f', 'mariadb'],
  ['RENAME USER CURRENT_USER TO b', 'RENAME USER: rename self:CURRENT_USER > b@%', 'none'],
  ['ALTER USER a REQUIRE SSL', 'ALTER USER: same a@%', 'mariadb'],
  ["ALTER USER a REQUIRE ISSUER 'x' AND SUBJECT 'y' CIPHER 'z' WITH MAX_QUERIES_PER_HOUR 10 ACCOUNT LOCK PASSWORD EXPIRE", 'ALTER USER: same a@%', 'mariadb'],
  ['ALTER USER a DEFAULT ROLE NONE', 'ALTER USER: same a@%', 'mysql8-doc'],
  ['GRANT SELECT ON d1.* TO a', 'GRANT: same a@%', 'mariadb'],
  ["GRANT SELECT ON TABLE d1.t TO 'a'@'%', b@localhost WITH MAX_USER_CONNECTIONS 3", 'GRANT: same a@%, same b@localhost', 'mariadb'],
  ['GRANT r1 TO a WITH ADMIN OPTION', 'GRANT: same a@%', 'mariadb'],
  ['GRANT PROXY ON b TO a', 'GRANT: same a@%', 'mariadb'],
  ['GRANT r1 TO PUBLIC', 'GRANT: ', 'none'],
  ['GRANT SELECT ON d1.* TO a AS b WITH ROLE ALL EXCEPT r1', 'GRANT: same a@%', 'mysql8-doc'],

  // ---- KILL
  ['KILL 42', 'kill 42', 'none'],
  ['kill connection 42', 'kill 42', 'none'],
  ['KILL QUERY 42', 'kill query 42', 'none'],
  ['KILL HARD QUERY 7 ;', 'kill query 7', 'none'],
  ['KILL SOFT CONNECTION 7', 'kill 7', 'none'],
  ['KILL QUERY ID 42', 'unknown: KILL QUERY ID', 'none'],
  ['KILL USER a', 'unknown: KILL USER', 'none'],
  ['KILL @id', 'unknown: KILL with an expression', 'none'],
  ['KILL 1+1', 'unknown: KILL with an expression', 'none'],
  ["KILL '42'", 'unknown: KILL with an expression', 'none'],
  ['KILL 0x2a', 'unknown: KILL with an expression', 'none'],
  ['KILL 99999999999999999', 'unknown: KILL with an expression', 'none'],
  ['SELECT 1; KILL 5', 'unknown: KILL in a multi-statement text', 'none'],

  // ---- dynamic SQL: a literal is read; anything else is reported as unread
  ["PREPARE s FROM 'SELECT 1'", 'other', 'none'],
  ["PREPARE s FROM 'DROP USER x'", 'unknown: account statement inside PREPARE', 'none'],
  ["PREPARE s FROM 'DROP ' 'USER x'", 'unknown: account statement inside PREPARE', 'none'],
  ["PREPARE s FROM _latin1'DROP USER x'", 'unknown: account statement inside PREPARE', 'none'],
  ["PREPARE s FROM 'SET PASSWORD = PASSWORD(''x'')'", 'unknown: account statement inside PREPARE', 'none'],
  ["PREPARE s FROM 'KILL 5'", 'unknown: KILL inside PREPARE', 'none'],
  ["PREPARE s FROM 'PREPARE t FROM ''DROP USER x'''", 'unknown: inside PREPARE: account statement inside PREPARE', 'none'],
  ['PREPARE s FROM @q', 'other: unread dynamic SQL', 'none'],
  ["PREPARE s FROM CONCAT('DROP ', 'USER x')", 'other: unread dynamic SQL', 'none'],
  ["PREPARE s FROM 'EXECUTE IMMEDIATE @q'", 'other: unread dynamic SQL', 'none'],
  ["EXECUTE IMMEDIATE 'SELECT ?' USING 1", 'other', 'none'],
  ["EXECUTE IMMEDIATE 'GRANT SELECT ON d1.* TO a IDENTIFIED BY ''x'''", 'unknown: account statement inside EXECUTE IMMEDIATE', 'none'],
  ['EXECUTE IMMEDIATE @q', 'other: unread dynamic SQL', 'none'],
  ["EXECUTE IMMEDIATE CONCAT('RENAME USER alice', ' TO stolen')", 'other: unread dynamic SQL', 'none'], // the review's attack
  ['execute immediate @q using @a', 'other: unread dynamic SQL', 'none'],
  ['SET STATEMENT max_statement_time = 1 FOR EXECUTE IMMEDIATE @q', 'other: unread dynamic SQL', 'none'],
  ['SELECT 1; PREPARE s FROM @q; EXECUTE s', 'other: unread dynamic SQL', 'none'],
  ['BEGIN NOT ATOMIC EXECUTE IMMEDIATE @q; END', 'other: unread dynamic SQL', 'none'],
  ['IF @x THEN PREPARE s FROM @q; EXECUTE s; END IF', 'other: unread dynamic SQL', 'none'],
  ['CREATE PROCEDURE p() BEGIN PREPARE s FROM @sql; EXECUTE s; END', 'other: unread dynamic SQL', 'none'],
  ['CREATE PROCEDURE p(q TEXT) PREPARE s FROM q', 'other: unread dynamic SQL', 'none'],
  ['CREATE DEFINER = CURRENT_USER PROCEDURE p(q TEXT) BEGIN EXECUTE IMMEDIATE q; END', 'other: unread dynamic SQL', 'none'],
  ['CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO EXECUTE IMMEDIATE @q', 'other: unread dynamic SQL', 'none'],
  ["CALL sys.execute_prepared_stmt('RENAME USER a TO b')", 'other: unread dynamic SQL', 'none'],
  ['CALL `sys`.`EXECUTE_PREPARED_STMT`(@q)', 'other: unread dynamic SQL', 'none'],
  ['CALL execute_prepared_stmt(@q)', 'other: unread dynamic SQL', 'none'],
  ['BEGIN NOT ATOMIC CALL sys.execute_prepared_stmt(@q); END', 'other: unread dynamic SQL', 'none'],
  ['CALL p(@q)', 'other', 'none'],
  ['CALL `execute_prepared_stmX`(@q)', 'other', 'none'],
  ['EXECUTE s USING @a', 'other', 'none'],
  ['DEALLOCATE PREPARE s', 'other', 'none'],
  ['DROP PREPARE s', 'other', 'none'],
  ["CREATE PROCEDURE p() BEGIN PREPARE s FROM 'DROP USER x'; END", 'unknown: account statement inside PREPARE', 'none'],

  // ---- character set changes (what MariaDB does with them: charsetCases below)
  ['SET NAMES utf8mb4', 'other: SET NAMES utf8mb4', 'none'],
  ['SET NAMES gbk; SELECT 1', 'unknown: character set change in a multi-statement text', 'none'],
  ['SET NAMES utf8mb4; SELECT 1', 'other: SET NAMES utf8mb4', 'none'],
  ['SELECT 1; SET NAMES gbk', 'other: SET NAMES gbk, not ASCII-transparent', 'none'],
  ['SET NAMES latin1; SET NAMES sjis', 'other: SET NAMES latin1, SET NAMES sjis, not ASCII-transparent', 'none'],
  ['SET STATEMENT max_statement_time = 1 FOR SET NAMES gbk', 'unknown: character set change inside SET STATEMENT', 'none'],
  ['SET STATEMENT character_set_client = gbk FOR SELECT 1', 'unknown: character set change inside SET STATEMENT', 'none'], // MariaDB refuses it
  ['BEGIN NOT ATOMIC SET NAMES gbk; END', 'unknown: character set change inside another statement', 'none'],
  ['CREATE PROCEDURE p() SET character_set_client = gbk', 'unknown: character set change inside another statement', 'none'],
  ["EXECUTE IMMEDIATE 'SET NAMES gbk'", 'unknown: character set change inside EXECUTE IMMEDIATE', 'none'],
  ["PREPARE s FROM 'SET NAMES utf8mb4'", 'unknown: character set change inside PREPARE', 'none'],
  ['SET @x = @@character_set_client, @y = @@session.character_set_client', 'other', 'none'],
  ['SELECT @@character_set_client', 'other', 'none'],
  ["SET @names = 1, @a = CONVERT('x', CHAR), @b = CAST('x' AS CHAR CHARACTER SET utf8mb4)", 'other', 'none'],
  ['SET @@session . character_set_client = gbk', 'other: character_set_client gbk, not ASCII-transparent', 'none'], // MariaDB: syntax error
  ['SET x.character_set_client = gbk', 'unknown: character_set_client assignment form', 'none'],
  ["SET @character_set_client = 'gbk', @names = 'x'", 'other', 'none'], // user variables

  // ---- not account management
  ['SELECT 1', 'other', 'none'],
  ["SELECT 'CREATE USER x' FROM t", 'other', 'none'],
  ["SELECT 'it\\'s'", 'other', 'none'],
  ['CREATE TABLE users (user varchar(10), password varchar(64))', 'other', 'none'],
  ["UPDATE users SET password = 'x' WHERE user = 'a'", 'other', 'none'],
  ["INSERT INTO users SET password = 'x'", 'other', 'none'],
  ['ALTER TABLE t DROP user', 'other', 'none'],
  ['SELECT 1; SELECT 2', 'other', 'none'],
  ['SELECT 1; -- trailing comment', 'other', 'none'],
  ["SET @p = PASSWORD('x'), @q = (SELECT a, password FROM t LIMIT 1)", 'other', 'none'],
  ["SET DEFAULT ROLE r1 FOR a", 'other', 'none'],
  ['SHOW GRANTS FOR a', 'other', 'none'],
  ['REVOKE SELECT ON d1.* FROM a', 'other', 'none'],
  ['REVOKE ALL PRIVILEGES, GRANT OPTION FROM a', 'other', 'none'], // refused before (the review); MariaDB: revokeCases
  ['IF 1 THEN REVOKE ALL PRIVILEGES, GRANT OPTION FROM a; END IF', 'other', 'none'],
  ['REVOKE IF EXISTS GRANT OPTION ON *.* FROM a IGNORE UNKNOWN USER', 'other', 'none'], // MySQL 8
  ['CREATE ROLE r2', 'other', 'none'],
  ['CREATE PROCEDURE p() BEGIN UPDATE users SET password = NULL; END', 'other', 'none'],
  ['CREATE TRIGGER tr BEFORE UPDATE ON t FOR EACH ROW SET NEW.password = SHA2(NEW.password, 256)', 'other', 'none'],
  ["SET STATEMENT max_statement_time=1 FOR UPDATE users SET password = 'x'", 'other', 'none'],
  ['CREATE OR REPLACE VIEW v AS SELECT user, password FROM users', 'other', 'none'],
  ["CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'u', PASSWORD 'p')", 'unknown: account statement inside another statement', 'none'], // strict: a PASSWORD item
  ['CREATE DEFINER = view@localhost PROCEDURE p() DROP USER a', 'unknown: account statement inside another statement', 'none'],
  ['CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN CREATE TABLE t (x int); DROP USER a; END', 'unknown: account statement in a multi-statement text', 'none'],
  ["DECLARE CONTINUE HANDLER FOR SQLEXCEPTION DROP USER a", 'unknown: account statement inside another statement', 'none'],
  ["lbl: LOOP SET PASSWORD = PASSWORD('x'); END LOOP lbl", 'unknown: account statement inside another statement', 'none'],
  ["CASE @x WHEN 1 THEN GRANT r1 TO a; END CASE", 'unknown: account statement inside another statement', 'none'],
  ['', 'other', 'none'],

  // ---- executable comments: read as code and as a comment (and every mix some server makes); MariaDB: executableCommentCases
  ['/*!40101 SET NAMES utf8 */', 'other: SET NAMES utf8', 'none'], // mysqldump writes it; MariaDB and MySQL both run it
  // mariadb-dump's first line, which the mariadb client sends with the first statement (less its \- command)
  ['/*M!999999 enable the sandbox mode */ \n\n/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */', 'other', 'none'],
  ['/*M!999999\\- enable the sandbox mode */ \n/*!40101 SET NAMES utf8mb4 */', 'other: SET NAMES utf8mb4', 'none'],
  ['/*M!999999 SET NAMES gbk */', 'other', 'none'], // the largest version: no server runs it
  ['/*!40101 SET character_set_client = @saved_cs_client */', 'other: character_set_client ?, not ASCII-transparent', 'none'],
  ['/*!40101 SET @a = 1,NAMES gbk */', 'other: SET NAMES gbk, not ASCII-transparent', 'none'],
  ['SET /*!40101 NAMES */ gbk', 'other: SET NAMES gbk, not ASCII-transparent', 'none'],
  ['/*!40101 SET @a = 1 */', 'other', 'none'],
  ["/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */", 'other', 'none'],
  ['/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */', 'other', 'none'],
  ['/*!50001 CREATE VIEW v AS SELECT CAST(a AS CHAR CHARACTER SET utf8mb4) FROM t */', 'other', 'none'],
  ['/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */ /*!50001 VIEW `v` AS select 1 AS `a` */', 'other', 'none'],
  ['/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; SET NEW.b = 2; END */', 'other', 'none'],
  ['/*!50003 CREATE*/ /*!50020 DEFINER=`root`@`localhost`*/ /*!50003 PROCEDURE p() PREPARE s FROM @q */', 'other: unread dynamic SQL', 'none'],
  ["/*!99999 '*/ SET NAMES gbk -- ' */", 'other: SET NAMES gbk, not ASCII-transparent', 'none'], // skipped: ends at the first */
  ["/*!40101 SELECT '*/ SET NAMES gbk -- ' */", 'other: SET NAMES gbk, not ASCII-transparent', 'none'], // run: a string; skipped: SET NAMES
  ['/*!40101 SET NAMES gbk -- */\n*/', 'other: SET NAMES gbk, not ASCII-transparent', 'none'],
  ['/*! SET NAMES gbk */', 'other: SET NAMES gbk, not ASCII-transparent', 'none'],
  ['/*M! SET NAMES sjis */', 'other: SET NAMES sjis, not ASCII-transparent', 'none'],
  ['/*!40101 SET NAMES latin1 */; /*!50700 SET NAMES gbk */', 'other: SET NAMES latin1, SET NAMES gbk, not ASCII-transparent', 'none'],
  ['/*!40101 SET NAMES gbk; SELECT 1 */', 'unknown: character set change in a multi-statement text', 'none'],
  ['/*!40101 SET @a = 1 */; DROP USER x', 'unknown: account statement in a multi-statement text', 'none'],
  ['/*!40101 BEGIN NOT ATOMIC SELECT 1; DROP */ USER x; END', 'unknown: account statement in a multi-statement text', 'none'], // a ';' does not end a run comment
  ['/*!40101 SET @a = 1 /* c */ */', 'other', 'none'], // nested: refused only when a telling word appears
  ['/*!40101 SET NAMES utf8mb4 /* c */ */', 'unknown: nested comment', 'none'],
  ['/*!40101 SET NAMES utf8mb4', 'unknown: unterminated comment', 'none'],
  ['/*!40101 SET NAMES utf8mb4 /*!40101 */ */', 'unknown: nested comment', 'none'],

  // ---- refused: never guess
  [`CREATE USER a /*!50000 ${AWS} */`, 'unknown: account statement with an executable comment', 'none'],
  [`CREATE USER a /*M!100000 ${AWS} */`, 'unknown: account statement with an executable comment', 'none'],
  ["/*!40101 SET PASSWORD = 'x' */", 'unknown: account statement with an executable comment', 'none'],
  ["/*!99999 DROP USER x */", 'unknown: account statement with an executable comment', 'none'],
  ["/*M! DROP USER x */", 'unknown: account statement with an executable comment', 'none'],
  ['/*!40101 KILL 5 */', 'unknown: KILL with an executable comment', 'none'],
  ['KILL /*!40101 QUERY */ 5', 'unknown: KILL with an executable comment', 'none'],
  ["/*!99999 ' */ DROP USER x; -- '", 'unknown: unterminated comment', 'none'], // run: the quote swallows the */
  ["/*!50003 ' */ /*!40101 DROP USER x */", 'unknown: account statement with an executable comment', 'none'], // only servers from 4.1.1 to 5.0.2 run it
  ["/*!40101 PREPARE s FROM 'DROP USER x' */", 'unknown: account statement inside PREPARE', 'none'],
  ["PREPARE s FROM '/*!40101 DROP USER x */'", 'unknown: inside PREPARE: account statement with an executable comment', 'none'],
  [`CREATE USER a ${AWS}; DROP USER b`, 'unknown: account statement in a multi-statement text', 'none'],
  [`SELECT 1; CREATE USER a ${AWS}`, 'unknown: account statement in a multi-statement text', 'none'],
  ['BEGIN NOT ATOMIC CREATE USER x; END', 'unknown: account statement inside another statement', 'none'],
  ["IF 1 THEN SET PASSWORD FOR a = PASSWORD('x'); END IF", 'unknown: account statement inside another statement', 'none'],
  ["CREATE PROCEDURE p() SET PASSWORD FOR a = PASSWORD('x')", 'unknown: account statement inside another statement', 'none'],
  ["CREATE DEFINER = CURRENT_USER EVENT e ON SCHEDULE EVERY 1 DAY DO ALTER USER a IDENTIFIED BY 'x'", 'unknown: account statement inside another statement', 'none'],
  [`SET STATEMENT max_statement_time=1 FOR CREATE USER a ${AWS}`, 'unknown: account statement inside SET STATEMENT', 'none'],
  ["SET @a = 1, PASSWORD = PASSWORD('x')", 'unknown: SET PASSWORD combined with other assignments', 'none'],
  ["SET PASSWORD = PASSWORD('x'), @a = 1", 'unknown: SET PASSWORD combined with other assignments', 'none'],
  ["SET @a = CASE WHEN 1 THEN 0 ELSE REPLACE('a','b','c') END, PASSWORD = PASSWORD('x')", 'unknown: SET PASSWORD combined with other assignments', 'none'],
  ["SET @a = (SELECT 1 FROM dual FOR UPDATE), PASSWORD = PASSWORD('x')", 'unknown: SET PASSWORD combined with other assignments', 'none'],
  [`CREATE OR REPLACE USER a ${AWS}`, 'unknown: AWSAuthenticationPlugin in CREATE OR REPLACE USER', 'none'],
  ['CREATE USER a IDENTIFIED WITH AWSAuthenticationPlugin', 'unknown: expected AS', 'none'],
  ["CREATE USER a IDENTIFIED WITH AWSAuthenticationPlugin AS 'rds'", "unknown: AWSAuthenticationPlugin without AS 'RDS'", 'none'],
  ["CREATE USER a IDENTIFIED VIA AWSAuthenticationPlugin USING 'RDS'", 'unknown: IDENTIFIED VIA AWSAuthenticationPlugin', 'none'],
  ["CREATE USER a IDENTIFIED VIA unix_socket OR AWSAuthenticationPlugin", 'unknown: AWSAuthenticationPlugin mixed with other plugins', 'none'],
  [`CREATE USER a ${AWS} AND IDENTIFIED BY 'x'`, 'unknown: AWSAuthenticationPlugin mixed with other authentication', 'none'],
  [`CREATE USER a ${AWS}, b IDENTIFIED BY 'x'`, 'unknown: IAM and non-IAM accounts in one statement', 'none'],
  [`ALTER USER a ${AWS}, b`, 'unknown: IAM and non-IAM accounts in one statement', 'none'],
  [`CREATE USER a ${AWS} IDENTIFIED BY 'x'`, 'unknown: unexpected clause after the accounts', 'none'],
  [`CREATE USER a ${AWS} DEFAULT ROLE r1 r2`, 'unknown: unexpected clause after the accounts', 'none'],
  [`ALTER USER CURRENT_USER() ${AWS}`, "unknown: AWSAuthenticationPlugin for the session's own account", 'none'],
  [`GRANT SELECT ON d1.* TO a ${AWS}`, 'unknown: AWSAuthenticationPlugin in GRANT', 'none'],
  [`CREATE USER 'a' @ 'h' ${AWS}`, "unknown: space before '@' in an account name", 'none'],
  [`CREATE USER a@% ${AWS}`, 'unknown: expected a host', 'none'],
  [`CREATE USER bob@db-1.example.com ${AWS}`, 'unknown: odd host name', 'none'],
  [`CREATE USER 'a ${AWS}`, 'unknown: unterminated quoted text', 'none'],
  [`CREATE USER a /* ${AWS}`, 'unknown: unterminated comment', 'none'],
  [`CREATE USER a /* /* */ ${AWS} */`, 'unknown: nested comment', 'none'],
  [`CREATE USER _utf8'a' ${AWS}`, 'unknown: character set introducer in an account name', 'none'],
  ['DROP USER a b', 'unknown: unexpected text after the statement', 'none'],
  ['GRANT SELECT ON d1.* FROM a', 'unknown: GRANT without TO', 'none'],
  ['BINLOG \'AAAA\'', 'unknown: BINLOG (replays events the gateway cannot read)', 'none'],
  ['ALTER USER a IDENTIFIED BY', 'unknown: expected a quoted string', 'none'],
  ["SET PASSWORD FOR a = CONCAT('x')", 'unknown: expected a quoted string', 'none'],

  // ---- backslashes, mode unknown (both readings must agree)
  [`CREATE USER 'it\\'s' ${AWS}`, 'unknown: backslash escapes change the meaning', 'none'],
  ["SELECT 'a\\'; DROP USER x; -- '", 'unknown: account statement in a multi-statement text', 'none'],
  ["DROP USER 'it\\'s'", "DROP USER: drop it's@%", 'none'], // without escapes the quote never closes: nothing runs

  // ---- the sql_mode may change between the statements of one text (each mode: the backslash-mode tests)
  ["SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; DROP USER carol -- '", 'unknown: account statement in a multi-statement text', 'none'],
  ["SELECT 1 AS [x']; DROP USER carol; -- ']", 'unknown: account statement in a multi-statement text', 'none'], // MariaDB's MSSQL mode
  ["SELECT 1; SET sql_mode = CONCAT('NO_BACKSLASH_ESCAPES', LEFT('\\';', 0)); SELECT '\\'; DROP USER carol; -- '", 'unknown: the sql_mode may change between statements', 'none'],
  ["SELECT 1; EXECUTE s; SELECT 'a\\'b'", 'unknown: the sql_mode may change between statements', 'none'],
  ["SELECT 1; SET sql_mode = ''; SELECT 'ab'", 'other', 'none'],
];

/**
 * Character set changes, run on MariaDB 10.11 by the real-server test from a
 * utf8mb4 session: [statement, verdict, character_set_client afterwards
 * (session, global)]. The server's values show which forms really change it
 * and that the verdict names what they set (or, for `?`, that the value is
 * not a plain name).
 */
export type CharsetCase = readonly [sql: string, expected: string, after: { readonly session: string; readonly global: string }];

const SESSION_GBK = { session: 'gbk', global: 'utf8mb4' } as const;
const GLOBAL_GBK = { session: 'utf8mb4', global: 'gbk' } as const;
const UNCHANGED = { session: 'utf8mb4', global: 'utf8mb4' } as const;

/** The character set table. */
export const charsetCases: readonly CharsetCase[] = [
  ['SET NAMES gbk', 'other: SET NAMES gbk, not ASCII-transparent', SESSION_GBK],
  ["SET NAMES 'GBK' COLLATE 'gbk_bin'", 'other: SET NAMES gbk, not ASCII-transparent', SESSION_GBK],
  ['SET NAMES "big5"', 'other: SET NAMES big5, not ASCII-transparent', { session: 'big5', global: 'utf8mb4' }],
  ['SET NAMES `sjis` COLLATE DEFAULT', 'other: SET NAMES sjis, not ASCII-transparent', { session: 'sjis', global: 'utf8mb4' }],
  ['set names cp932', 'other: SET NAMES cp932, not ASCII-transparent', { session: 'cp932', global: 'utf8mb4' }],
  ['SET NAMES latin1 COLLATE latin1_bin', 'other: SET NAMES latin1', { session: 'latin1', global: 'utf8mb4' }],
  ['SET NAMES DEFAULT', 'other: SET NAMES ?, not ASCII-transparent', UNCHANGED],
  ['SET NAMES binary', 'other: SET NAMES binary', { session: 'binary', global: 'utf8mb4' }],
  ['SET CHARACTER SET gbk', 'other: SET CHARACTER SET gbk, not ASCII-transparent', SESSION_GBK],
  ["SET CHARSET 'gbk'", 'other: SET CHARACTER SET gbk, not ASCII-transparent', SESSION_GBK],
  ['SET CHAR SET gbk', 'other: SET CHARACTER SET gbk, not ASCII-transparent', SESSION_GBK],
  ['SET CHARACTER SET DEFAULT', 'other: SET CHARACTER SET ?, not ASCII-transparent', UNCHANGED],
  ['SET @a = 1, NAMES gbk', 'other: SET NAMES gbk, not ASCII-transparent', SESSION_GBK],
  ['SET @a = 1, CHARACTER SET gbk, @b = 2', 'other: SET CHARACTER SET gbk, not ASCII-transparent', SESSION_GBK],
  ['SET character_set_client = gbk', 'other: character_set_client gbk, not ASCII-transparent', SESSION_GBK],
  ["SET SESSION character_set_client = 'gbk'", 'other: character_set_client gbk, not ASCII-transparent', SESSION_GBK],
  ['SET LOCAL character_set_client = gbk', 'other: character_set_client gbk, not ASCII-transparent', SESSION_GBK],
  ['SET @@character_set_client := gbk', 'other: character_set_client gbk, not ASCII-transparent', SESSION_GBK],
  ['SET @@session.character_set_client = gbk', 'other: character_set_client gbk, not ASCII-transparent', SESSION_GBK],
  ['SET @@local.character_set_client = gbk', 'other: character_set_client gbk, not ASCII-transparent', SESSION_GBK],
  ['SET `character_set_client` = gbk', 'other: character_set_client gbk, not ASCII-transparent', SESSION_GBK],
  ['SET @@session.`Character_Set_Client` = `GBK`', 'other: character_set_client gbk, not ASCII-transparent', SESSION_GBK],
  ['SET CHARACTER_SET_CLIENT = Gbk', 'other: character_set_client gbk, not ASCII-transparent', SESSION_GBK],
  ['SET @a = 1, character_set_client = gbk, @b = 2', 'other: character_set_client gbk, not ASCII-transparent', SESSION_GBK],
  ['SET character_set_client = 28', 'other: character_set_client ?, not ASCII-transparent', SESSION_GBK], // a collation id
  ["SET @cs = 'gbk'; SET character_set_client = @cs", 'other: character_set_client ?, not ASCII-transparent', SESSION_GBK],
  ["SET character_set_client = CONCAT('g', 'bk')", 'other: character_set_client ?, not ASCII-transparent', SESSION_GBK],
  ["SET character_set_client = x'67626b'", 'other: character_set_client ?, not ASCII-transparent', SESSION_GBK],
  ["SET character_set_client = _latin1'gbk'", 'other: character_set_client ?, not ASCII-transparent', SESSION_GBK],
  ['SET character_set_client = DEFAULT', 'other: character_set_client ?, not ASCII-transparent', UNCHANGED],
  ['SET character_set_client = utf8mb4', 'other: character_set_client utf8mb4', UNCHANGED],
  ['SET GLOBAL character_set_client = gbk', 'other: character_set_client gbk (global), not ASCII-transparent', GLOBAL_GBK],
  ['SET @@global.character_set_client = gbk', 'other: character_set_client gbk (global), not ASCII-transparent', GLOBAL_GBK],
  ['SET GLOBAL max_connections = 300, character_set_client = gbk', 'other: character_set_client gbk (global), not ASCII-transparent', GLOBAL_GBK],
  ['SET GLOBAL max_connections = 300, SESSION character_set_client = gbk', 'other: character_set_client gbk, not ASCII-transparent', SESSION_GBK],
  ['SELECT 1; SET NAMES gbk', 'other: SET NAMES gbk, not ASCII-transparent', SESSION_GBK],
  ['SET NAMES latin1; SELECT 1', 'other: SET NAMES latin1', { session: 'latin1', global: 'utf8mb4' }],
];

const NAMES_GBK = 'other: SET NAMES gbk, not ASCII-transparent';

/**
 * Executable comments, run on MariaDB 10.11 by the real-server test from a
 * utf8mb4 session (multi-statement texts allowed), in the CharsetCase form.
 * MariaDB runs some and skips others; the verdict reads them the way every
 * server may, so it can report a change MariaDB does not make (MySQL, or
 * another version, would), never miss one MariaDB makes.
 */
export const executableCommentCases: readonly CharsetCase[] = [
  ['/*!40101 SET NAMES gbk */', NAMES_GBK, SESSION_GBK],
  ['/*!40101SET NAMES gbk*/', NAMES_GBK, SESSION_GBK],
  ['/*! SET NAMES gbk */', NAMES_GBK, SESSION_GBK],
  ['/*!99999 SET NAMES gbk */', NAMES_GBK, UNCHANGED], // MySQL 9.99.99 would
  ['/*!50700 SET NAMES gbk */', NAMES_GBK, UNCHANGED], // MariaDB 10 skips MySQL 5.7-9.x versions; MySQL runs them
  ['/*!100000 SET NAMES gbk */', 'unknown: character set change inside another statement', SESSION_GBK], // six digits; MySQL 8.0 reads five: `0 SET NAMES gbk`
  ['/*!999999 SET NAMES gbk */', 'unknown: character set change inside another statement', UNCHANGED], // MySQL 8.0: `9 SET NAMES gbk`
  ['/*M!100000 SET NAMES gbk */', NAMES_GBK, SESSION_GBK],
  ['/*M!50700 SET NAMES gbk */', NAMES_GBK, SESSION_GBK],
  ['/*M! SET NAMES gbk */', NAMES_GBK, SESSION_GBK], // MySQL: a plain comment
  ['/*M!999999 SET NAMES gbk */', 'other', UNCHANGED], // the largest version: no server runs it (mariadb-dump's sandbox line)
  ['/*M!101106 SET NAMES gbk */', NAMES_GBK, SESSION_GBK],
  ['SET /*!40101 NAMES */ gbk', NAMES_GBK, SESSION_GBK],
  ["/*!99999 '*/ SET NAMES gbk -- ' */", NAMES_GBK, SESSION_GBK], // skipped: it ends at the first */, quotes or not
  ["/*!40101 SELECT '*/ SET NAMES gbk -- ' */", NAMES_GBK, UNCHANGED], // run: '*/' is in a string (a server before 4.1.1 would skip to it)
  ['/*!40101 SET NAMES gbk -- */\n*/', NAMES_GBK, SESSION_GBK], // run: the line comment hides the first */
  ["SET @saved_cs_client = 'gbk'; /*!40101 SET character_set_client = @saved_cs_client */", 'other: character_set_client ?, not ASCII-transparent', SESSION_GBK],
  ['/*!40101 SET character_set_client = utf8mb4 */', 'other: character_set_client utf8mb4', UNCHANGED],
  ['/*!40101 SET NAMES latin1 */; /*!99999 SET NAMES gbk */', 'other: SET NAMES latin1, SET NAMES gbk, not ASCII-transparent', { session: 'latin1', global: 'utf8mb4' }],
  ['/*!40101 SET NAMES gbk; SELECT 1 */', 'unknown: character set change in a multi-statement text', UNCHANGED], // MariaDB: a syntax error at the ';'
  ['/*!40101 BEGIN NOT ATOMIC SELECT 1; SET NAMES gbk; END */', 'unknown: character set change in a multi-statement text', SESSION_GBK], // the ';' does not end the comment
  ['/*!40101 SET NAMES gbk', 'unknown: unterminated comment', UNCHANGED], // a syntax error
];
