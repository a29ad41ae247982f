import { loadConfig } from '../../config/index.js';
import { IamdbError } from '../../errors/index.js';
import { checkIamSection } from '../../iam-runtime.js';

/** `iamdb config check`: throws CONFIG_INVALID listing every problem, or says OK. */
export function runConfigCheck(opts: { file: string; env: Readonly<Record<string, string | undefined>> }): string {
  const config = loadConfig({ file: opts.file, env: opts.env });
  const problems = checkIamSection(config);
  if (problems.length > 0) {
    throw new IamdbError('CONFIG_INVALID', { problems: problems.map((p) => `  ${p.path}: ${p.message}`).join('\n'), count: problems.length });
  }
  return `${opts.file}: OK (${config.instances.length} instance(s), ${config.iam.users.length} user(s), ${config.iam.roles.length} role(s))\n`;
}
