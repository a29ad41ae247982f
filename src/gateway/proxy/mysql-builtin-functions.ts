/**
 * Names that, followed by `(`, never call a stored function on MariaDB 10.11
 * (mysql-session-state.ts reads every other `name(` and every `db.name(` as
 * a stored-routine call). Where they come from: every word of the server's
 * help topics (mysql.help_topic), information_schema.KEYWORDS and
 * information_schema.SQL_FUNCTIONS, each run as `SELECT name()`,
 * `SELECT name(1)`, `SELECT name ()` and `SELECT name (1)` in a database
 * without routines; a name is kept when no form looked up a stored function
 * (errors 1305, 1630, 1318): it is a native function (MariaDB resolves an
 * unqualified native name before a stored function of that name) or a keyword
 * whose `(` is grammar (IN (, VALUES (, INT(11)), not a call.
 * mysql-builtin-functions.test.ts runs the same check against a real server:
 * a name wrongly here would let a stored function through unseen.
 */

/** Names that are not a stored-routine call whether or not a space comes before the `(`. */
export const MYSQL_NOT_ROUTINE_ANY = `
  abs accessible acos add add_months addtime aes_decrypt aes_encrypt all alter analyze and any area as asbinary
  asc ascii asensitive asin astext aswkb aswkt atan atan2 avg backup before begin benchmark between bigint bin
  binary binlog binlog_gtid_pos bit bit_count bit_length blob bool boolean both boundary buffer by byte cache
  call cascade case ceil ceiling centroid change char char_length character character_length charset check
  checkpoint checksum chr clob close coalesce code coercibility collate collation column column_add column_check
  column_create column_delete column_exists column_get column_json column_list comment commit compress
  compressed concat concat_operator_oracle concat_ws condition connection_id constraint contains continue conv
  convert convert_tz convexhull cos cot crc32 crc32c create cross crosses current_date current_role current_time
  current_timestamp current_user cursor database databases date date_format datediff datetime day day_hour
  day_microsecond day_minute day_second dayname dayofmonth dayofweek dayofyear deallocate dec decimal declare
  decode decode_histogram decode_oracle default degrees delayed delete delete_domain_id des_decrypt des_encrypt
  desc describe deterministic dimension disjoint distinct distinctrow div do do_domain_ids double drop dual each
  else elseif elt enclosed encode encrypt end endpoint enum envelope equals escaped examined except exclude
  execute exists exit exp explain export_set exteriorring extractvalue false fetch field find_in_set fixed float
  float4 float8 floor flush following follows for force foreign format found_rows from from_base64 from_days
  from_unixtime fulltext function geomcollfromtext geomcollfromwkb geometrycollectionfromtext
  geometrycollectionfromwkb geometryfromtext geometryfromwkb geometryn geometrytype geomfromtext geomfromwkb get
  get_format get_lock glength global grant greatest group handler having help hex high_priority host hour
  hour_microsecond hour_minute hour_second id if ifnull ignore ignore_domain_ids ignored in index inet6_aton
  inet6_ntoa inet_aton inet_ntoa infile inner inout insensitive insert install instr int int1 int2 int3 int4
  int8 integer interiorringn intersect intersects interval into is is_free_lock is_ipv4 is_ipv4_compat
  is_ipv4_mapped is_ipv6 is_used_lock isclosed isempty isnull isring issimple iterate join json json_array
  json_array_append json_array_insert json_compact json_contains json_contains_path json_depth json_detailed
  json_equals json_exists json_extract json_insert json_keys json_length json_loose json_merge json_merge_patch
  json_merge_preserve json_normalize json_object json_overlaps json_pretty json_query json_quote json_remove
  json_replace json_search json_set json_type json_unquote json_valid json_value key keys kill language last_day
  last_insert_id last_value lastval lcase leading least leave left length lengthb like limit linear linefromtext
  linefromwkb lines linestringfromtext linestringfromwkb ln load load_file local localtime localtimestamp locate
  lock log log10 log2 long longblob longtext loop low_priority lower lpad lpad_oracle ltrim ltrim_oracle
  make_set makedate maketime master_demote_to_replica master_demote_to_slave master_gtid_wait master_pos_wait
  master_ssl_verify_server_cert match maxvalue mbrcontains mbrdisjoint mbrequal mbrintersects mbroverlaps
  mbrtouches mbrwithin md5 medium mediumblob mediumint mediumtext microsecond middleint minute
  minute_microsecond minute_second mlinefromtext mlinefromwkb mod modifies month monthname mpointfromtext
  mpointfromwkb mpolyfromtext mpolyfromwkb multilinestringfromtext multilinestringfromwkb multipointfromtext
  multipointfromwkb multipolygonfromtext multipolygonfromwkb name_const names national natural natural_sort_key
  nchar nextval no no_write_to_binlog not null nullif number numeric numgeometries numinteriorrings numpoints
  nvarchar nvl nvl2 oct octet_length offset old_password on open optimize option optionally options or ord order
  others out outer outfile over overlaps owner page_checksum parse_vcol_expr parser partition password period
  period_add period_diff pi pointfromtext pointfromwkb pointn pointonsurface polyfromtext polyfromwkb
  polygonfromtext polygonfromwkb port portion pow power precedes preceding precision prepare primary procedure
  purge quarter quote radians rand random_bytes range raw read read_write reads real recursive ref_system_id
  references regexp regexp_instr regexp_replace regexp_substr release release_all_locks release_lock remove
  rename repair repeat replace replace_oracle replica replicas require reset resignal restore restrict return
  returning reverse revoke right rlike role rollback round row row_count row_number rownum rows rpad rpad_oracle
  rtrim rtrim_oracle savepoint schema schemas sec_to_time second second_microsecond security select sensitive
  separator serial server session set setval sformat sha sha1 sha2 show shutdown sign signal signed sin slave
  slaves sleep smallint socket some soname soundex sounds space spatial specific sql sql_big_result
  sql_buffer_result sql_cache sql_calc_found_rows sql_no_cache sql_small_result sql_tsi_day sql_tsi_hour
  sql_tsi_minute sql_tsi_month sql_tsi_second sql_tsi_year sqlexception sqlstate sqlwarning sqrt srid ssl start
  starting startpoint stats_auto_recalc stats_persistent stats_sample_pages stop stored str_to_date
  straight_join strcmp substr_oracle substring_index subtime sys_guid sysdate table tan terminated text then
  ties time time_format time_to_sec timediff timestamp timestampadd timestampdiff tinyblob tinyint tinytext to
  to_base64 to_char to_days to_seconds touches trailing trigger true truncate ucase unbounded uncompress
  uncompressed_length undo unhex unicode uninstall union unique unix_timestamp unlock unsigned update updatexml
  upgrade upper usage use user using utc_date utc_time utc_timestamp uuid uuid_short value values varbinary
  varchar varchar2 varcharacter varying version week weekday weekofyear weight_string when where while window
  with within wrapper write wsrep_last_seen_gtid wsrep_last_written_gtid wsrep_sync_wait_upto_gtid x xa xor y
  year year_month yearweek zerofill
`.trim().split(/\s+/);

/**
 * Native functions that MariaDB takes for a stored function when a space (or
 * a comment) comes before the `(` (`NOW ()` looks up `db.now`, outside
 * IGNORE_SPACE): not a routine call only when the `(` follows at once.
 */
export const MYSQL_NOT_ROUTINE_ADJACENT = `
  adddate bit_and bit_or bit_xor cast count cume_dist curdate curtime date_add date_sub dense_rank extract
  first_value group_concat json_arrayagg json_objectagg lag lead max median mid min now nth_value ntile
  percent_rank percentile_cont percentile_disc position rank session_user std stddev stddev_pop stddev_samp
  subdate substr substring sum system_user trim trim_oracle var_pop var_samp variance
`.trim().split(/\s+/);
