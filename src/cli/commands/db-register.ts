/**
 * `iamdb db register` and `iamdb db deregister`: adopt an existing server
 * (or forget it) through the control plane, without a restart. They call
 * iamdb's own RDS actions, RegisterDBInstance and DeregisterDBInstance,
 * signed with the caller's credentials, so the caller's policies decide
 * (rds:RegisterDBInstance, rds:DeregisterDBInstance).
 */
import { IamdbError } from '../../errors/index.js';
import { resolveRegion } from '../aws-region.js';
import { callQueryAction, xmlText, type ControlPlaneTarget } from '../control-plane-client.js';

export interface ApiTargetOptions {
  readonly endpointUrl?: string;
  readonly region?: string;
  readonly profile?: string;
  readonly caBundle?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function controlPlaneTarget(opts: ApiTargetOptions): ControlPlaneTarget {
  const endpointUrl = opts.endpointUrl ?? opts.env['IAMDB_ENDPOINT_URL'] ?? opts.env['AWS_ENDPOINT_URL'];
  if (!endpointUrl) throw new IamdbError('CLI_USAGE', { reason: 'Give the control plane with --endpoint-url (or IAMDB_ENDPOINT_URL), e.g. http://127.0.0.1:7400' });
  const region = resolveRegion({ ...(opts.region ? { flag: opts.region } : {}), ...(opts.profile ? { profile: opts.profile } : {}), env: opts.env });
  if (!region) throw new IamdbError('CLI_USAGE', { reason: 'You must specify a region. Use --region, set AWS_DEFAULT_REGION (or AWS_REGION), or add region to your AWS config profile.' });
  const caBundle = opts.caBundle ?? opts.env['AWS_CA_BUNDLE'];
  return { endpointUrl, region, ...(opts.profile ? { profile: opts.profile } : {}), ...(caBundle ? { caBundle } : {}) };
}

export interface RegisterOptions extends ApiTargetOptions {
  readonly id: string;
  readonly engine: string;
  readonly listen: string;
  readonly target: string;
  readonly masterUsername: string;
  /** Read from stdin or IAMDB_MASTER_PASSWORD by the caller; never a flag (flags show in `ps`). */
  readonly masterPassword: string;
  readonly enableIamDatabaseAuthentication?: boolean;
  readonly aliases?: readonly string[];
  readonly targetTls?: string;
  readonly targetTlsCa?: string;
  readonly targetTlsServerName?: string;
  readonly tags?: readonly string[];
}

/** The instance as the API describes it, as JSON for the terminal. */
function summary(xml: string): string {
  return `${JSON.stringify(
    {
      DBInstanceIdentifier: xmlText(xml, 'DBInstanceIdentifier'),
      Engine: xmlText(xml, 'Engine'),
      DBInstanceStatus: xmlText(xml, 'DBInstanceStatus'),
      Endpoint: { Address: xmlText(xml, 'Address'), Port: Number(xmlText(xml, 'Port')) },
      DbiResourceId: xmlText(xml, 'DbiResourceId'),
      IAMDatabaseAuthenticationEnabled: xmlText(xml, 'IAMDatabaseAuthenticationEnabled') === 'true',
    },
    null,
    2,
  )}\n`;
}

export async function runDbRegister(opts: RegisterOptions): Promise<string> {
  const params: Record<string, string> = {
    Action: 'RegisterDBInstance',
    Version: '2014-10-31',
    DBInstanceIdentifier: opts.id,
    Engine: opts.engine,
    ListenAddress: opts.listen,
    TargetAddress: opts.target,
    MasterUsername: opts.masterUsername,
    MasterUserPassword: opts.masterPassword,
    EnableIAMDatabaseAuthentication: String(opts.enableIamDatabaseAuthentication ?? false),
  };
  (opts.aliases ?? []).forEach((a, i) => (params[`Aliases.member.${i + 1}`] = a));
  if (opts.targetTls) params['TargetTlsMode'] = opts.targetTls;
  if (opts.targetTlsCa) params['TargetTlsCaFile'] = opts.targetTlsCa;
  if (opts.targetTlsServerName) params['TargetTlsServerName'] = opts.targetTlsServerName;
  (opts.tags ?? []).forEach((t, i) => {
    const eq = t.indexOf('=');
    if (eq <= 0) throw new IamdbError('CLI_USAGE', { reason: `tags are key=value, got ${t}` });
    params[`Tags.Tag.${i + 1}.Key`] = t.slice(0, eq);
    params[`Tags.Tag.${i + 1}.Value`] = t.slice(eq + 1);
  });
  return summary(await callQueryAction(controlPlaneTarget(opts), 'rds', params));
}

export async function runDbDeregister(opts: ApiTargetOptions & { readonly id: string }): Promise<string> {
  const xml = await callQueryAction(controlPlaneTarget(opts), 'rds', { Action: 'DeregisterDBInstance', Version: '2014-10-31', DBInstanceIdentifier: opts.id });
  return summary(xml);
}
