/**
 * Region lookup the way the AWS CLI does it: the flag, then AWS_REGION and
 * AWS_DEFAULT_REGION, then `region` in the profile's section of the shared
 * config file (AWS_CONFIG_FILE or ~/.aws/config).
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Reads one key of a profile from an AWS-style INI file; undefined when absent. */
export function readProfileSetting(text: string, profile: string, key: string): string | undefined {
  const wanted = profile === 'default' ? new Set(['default', 'profile default']) : new Set([`profile ${profile}`]);
  let inSection = false;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.replace(/^\s+|\s+$/g, '');
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (section) {
      inSection = wanted.has(section[1]!.replace(/\s+/g, ' '));
      continue;
    }
    if (!inSection) continue;
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (kv && kv[1] === key) return kv[2]!.replace(/\s+[#;].*$/, '');
  }
  return undefined;
}

export function resolveRegion(opts: { flag?: string; profile?: string; env: Readonly<Record<string, string | undefined>> }): string | undefined {
  if (opts.flag) return opts.flag;
  const envRegion = opts.env['AWS_REGION'] || opts.env['AWS_DEFAULT_REGION'];
  if (envRegion) return envRegion;
  const profile = opts.profile ?? opts.env['AWS_PROFILE'] ?? 'default';
  const file = opts.env['AWS_CONFIG_FILE'] ?? join(homedir(), '.aws', 'config');
  try {
    return readProfileSetting(readFileSync(file, 'utf8'), profile, 'region');
  } catch {
    return undefined;
  }
}
