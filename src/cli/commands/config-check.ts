import { loadConfig } from '../../config/index.js';

/** `iamdb config check`: throws CONFIG_INVALID listing every problem, or says OK. */
export function runConfigCheck(opts: { file: string; env: Readonly<Record<string, string | undefined>> }): string {
  const config = loadConfig({ file: opts.file, env: opts.env });
  return `${opts.file}: OK (${config.instances.length} instance(s), ${config.iam.users.length} user(s), ${config.iam.roles.length} role(s))\n`;
}
