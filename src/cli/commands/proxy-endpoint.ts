/**
 * `iamdb proxy-endpoint <proxy>`: where a proxy endpoint listens. AWS's
 * DescribeDBProxyEndpoints gives the host only (every RDS Proxy listens on
 * 5432/3306); an iamdb proxy endpoint has a port of its own, which the control
 * plane shows as the read-only tag `iamdb:port`. This command asks for both,
 * signed with the caller's credentials (rds:DescribeDBProxyEndpoints and
 * rds:ListTagsForResource), and prints them.
 */
import { IamdbError } from '../../errors/index.js';
import { callQueryAction, xmlText } from '../control-plane-client.js';
import { controlPlaneTarget, type ApiTargetOptions } from './db-register.js';

export interface ProxyEndpointOptions extends ApiTargetOptions {
  readonly proxyName: string;
  /** Another endpoint of the proxy; default: the default endpoint, named like the proxy. */
  readonly endpointName?: string;
}

/** Every `<Tag><Key>…</Key><Value>…</Value></Tag>` of a ListTagsForResource answer. */
function tagsOf(xml: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of xml.matchAll(/<Tag>([\s\S]*?)<\/Tag>/g)) {
    const key = xmlText(m[1]!, 'Key');
    if (key !== undefined) out[key] = xmlText(m[1]!, 'Value') ?? '';
  }
  return out;
}

export async function runProxyEndpoint(opts: ProxyEndpointOptions): Promise<string> {
  const target = controlPlaneTarget(opts);
  const described = await callQueryAction(target, 'rds', {
    Action: 'DescribeDBProxyEndpoints',
    Version: '2014-10-31',
    DBProxyName: opts.proxyName,
    DBProxyEndpointName: opts.endpointName ?? opts.proxyName,
  });
  const arn = xmlText(described, 'DBProxyEndpointArn');
  if (arn === undefined) throw new IamdbError('CLI_USAGE', { reason: `no endpoint ${opts.endpointName ?? opts.proxyName} for DB proxy ${opts.proxyName}` });
  const tags = tagsOf(await callQueryAction(target, 'rds', { Action: 'ListTagsForResource', Version: '2014-10-31', ResourceName: arn }));
  const port = tags['iamdb:port'];
  if (port === undefined) throw new IamdbError('CLI_USAGE', { reason: 'the control plane does not show an iamdb:port tag for this endpoint; is it an iamdb control plane?' });
  return `${JSON.stringify(
    {
      DBProxyName: xmlText(described, 'DBProxyName'),
      DBProxyEndpointName: xmlText(described, 'DBProxyEndpointName'),
      Endpoint: xmlText(described, 'Endpoint'),
      Port: Number(port),
      Listen: tags['iamdb:listen'],
      TargetRole: xmlText(described, 'TargetRole'),
      IsDefault: xmlText(described, 'IsDefault') === 'true',
      Status: xmlText(described, 'Status'),
    },
    null,
    2,
  )}\n`;
}
