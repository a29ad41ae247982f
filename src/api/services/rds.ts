/**
 * RDS over the Query protocol, for the instances iamdb fronts:
 * DescribeDBInstances, ModifyDBInstance (IAM database authentication on or
 * off at run time) and resource tags. AWS's CreateDBInstance makes servers;
 * iamdb adopts existing ones from its config file instead (docs/control-plane.md).
 */
import { readFileSync, statSync } from 'node:fs';
import { IamdbError } from '../../errors/index.js';
import { DEFAULT_TARGET_TLS_MODE, TARGET_TLS_MODES, advertisedHost, checkTags, parseHostPort, type DbInstance, type InstanceDefinition, type InstanceRegistry } from '../../rds/index.js';
import { Secret } from '../../util/index.js';
import type { QueryParams } from '../query-params.js';
import { requestTagContext } from '../request-tags.js';
import type { QueryHandler, QueryService } from '../service.js';
import { members, type XmlElements } from '../xml.js';

/**
 * A CA bundle named by RegisterDBInstance is read on every TLS connection to
 * the server: it must be a regular, readable file of PEM certificates of
 * sensible size, checked now rather than found broken (or a device) later.
 */
function checkCaFile(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw invalid(`TargetTlsCaFile ${path.slice(0, 256)} cannot be read.`);
  }
  if (!st.isFile() || st.size > 1 << 20) throw invalid(`TargetTlsCaFile ${path.slice(0, 256)} must be a regular file of at most 1 MiB.`);
  if (!readFileSync(path, 'utf8').includes('-----BEGIN CERTIFICATE-----')) throw invalid(`TargetTlsCaFile ${path.slice(0, 256)} holds no PEM certificate.`);
}

function invalid(message: string): IamdbError {
  return new IamdbError('RDS_INVALID_PARAMETER', { message });
}

/** The address clients use (and sign tokens for): the first alias for a wildcard listener, else the listen address. */
function endpointOf(inst: DbInstance, port: number): { Address: string; Port: number } {
  return { Address: advertisedHost(inst.listen.host, inst.endpoints), Port: port };
}

export function rdsService(deps: {
  instances: InstanceRegistry;
  region: string;
  account: string;
  partition: string;
  /** The port each instance listens on (known once started; port 0 in the config means "any"). */
  portOf: (id: string) => number;
  /** iamdb's RegisterDBInstance / DeregisterDBInstance: adopt or forget a server, endpoint included. */
  register: (def: InstanceDefinition) => Promise<DbInstance>;
  deregister: (id: string) => Promise<DbInstance>;
  /** iamdb's CA (hex SHA-256 of its certificate): endpoints' certificates chain to it, RDS's CACertificateIdentifier names it. */
  caFingerprintSha256: string;
}): QueryService {
  const { instances, region, account, partition } = deps;
  // RDS keeps identifiers in lower case, so policies match one spelling: `PROD` and `prod` are the same ARN.
  const arnOf = (id: string): string => `arn:${partition}:rds:${region}:${account}:db:${id.toLowerCase()}`;

  const instance = (id: string): DbInstance => {
    const inst = instances.get(id);
    if (inst === undefined) throw new IamdbError('RDS_DB_INSTANCE_NOT_FOUND', { id });
    return inst;
  };
  /** A db ARN with its identifier in lower case (how RDS keeps it), so policies see one spelling. */
  const canonicalArn = (arn: string): string => arn.replace(/^(arn:[\w-]+:rds:[\w-]+:\d{12}:db:)([A-Za-z0-9-]+)$/, (_, head: string, id: string) => `${head}${id.toLowerCase()}`);
  /** The instance an `arn:aws:rds:…:db:ID` names. */
  const byArn = (arn: string): DbInstance => {
    const m = /^arn:[\w-]+:rds:([\w-]+):(\d{12}):db:([A-Za-z][A-Za-z0-9-]{0,62})$/.exec(arn);
    if (m === null) throw invalid(`The specified resource name does not match an RDS resource in this region.`);
    if (m[1] !== region || m[2] !== account) throw new IamdbError('RDS_RESOURCE_NOT_FOUND', { id: m[3]! });
    return instance(m[3]!);
  };

  const caIdentifier = `iamdb-ca-${deps.caFingerprintSha256.slice(0, 16)}`;
  /**
   * Every member RDS always returns, so code written against RDS finds them. Values are honest:
   * what iamdb does not manage (storage, backups, monitoring, zones) reads as absent or off, and
   * docs/control-plane.md says what each one means here.
   */
  const instanceXml = (inst: DbInstance): XmlElements => {
    const port = deps.portOf(inst.id);
    return {
      DBInstanceIdentifier: inst.id.toLowerCase(),
      DBInstanceClass: 'db.iamdb',
      Engine: inst.engineName,
      DBInstanceStatus: 'available',
      MasterUsername: inst.master.username,
      Endpoint: { ...endpointOf(inst, port), HostedZoneId: 'iamdb' },
      AllocatedStorage: 0,
      InstanceCreateTime: new Date(inst.createdAt),
      BackupRetentionPeriod: 0,
      DBSecurityGroups: members([], 'DBSecurityGroup'),
      VpcSecurityGroups: members([], 'VpcSecurityGroupMembership'),
      DBParameterGroups: members([], 'DBParameterGroup'),
      AvailabilityZone: `${region}a`,
      PendingModifiedValues: {},
      MultiAZ: false,
      // Before any connection to the server has said its version, "unknown" rather than a guess.
      EngineVersion: inst.engineVersion ?? 'unknown',
      AutoMinorVersionUpgrade: false,
      ReadReplicaDBInstanceIdentifiers: members([], 'ReadReplicaDBInstanceIdentifier'),
      LicenseModel: inst.engineName === 'postgres' ? 'postgresql-license' : 'general-public-license',
      OptionGroupMemberships: members([], 'OptionGroupMembership'),
      PubliclyAccessible: false,
      StorageType: 'external',
      DbInstancePort: port,
      StorageEncrypted: false,
      DbiResourceId: inst.resourceId,
      CACertificateIdentifier: caIdentifier,
      DomainMemberships: members([], 'DomainMembership'),
      CopyTagsToSnapshot: false,
      MonitoringInterval: 0,
      DBInstanceArn: arnOf(inst.id),
      IAMDatabaseAuthenticationEnabled: inst.iamDatabaseAuthentication,
      PerformanceInsightsEnabled: false,
      // Instances from the config file cannot be deregistered through the API.
      DeletionProtection: instances.isFromConfig(inst.id),
      AssociatedRoles: members([], 'DBInstanceRole'),
      TagList: members(
        Object.entries(inst.tags).map(([Key, Value]) => ({ Key, Value })),
        'Tag',
      ),
      CustomerOwnedIpEnabled: false,
      CertificateDetails: { CAIdentifier: caIdentifier },
    };
  };

  const filtersOf = (q: QueryParams): Array<(i: DbInstance) => boolean> =>
    q.list('Filters').map((f) => {
      const name = f.str('Name');
      const values = f.strings('Values');
      if (name === undefined) throw invalid('The parameter Filters.Filter.Name must be provided.');
      switch (name) {
        case 'db-instance-id':
          return (i) => values.some((v) => v.toLowerCase() === i.id.toLowerCase() || v === arnOf(i.id));
        case 'dbi-resource-id':
          return (i) => values.includes(i.resourceId);
        case 'engine':
          return (i) => values.includes(i.engineName);
        default:
          throw invalid(`Unrecognized filter name: ${name.slice(0, 64)}.`);
      }
    });

  const a: Record<string, QueryHandler> = {};
  a['DescribeDBInstances'] = (ctx, q) => {
    const id = q.str('DBInstanceIdentifier');
    if (id !== undefined) {
      ctx.authorize('rds:DescribeDBInstances', arnOf(id));
      return { DBInstances: members([instanceXml(instance(id))], 'DBInstance') };
    }
    ctx.authorize('rds:DescribeDBInstances', arnOf('*'));
    const filters = filtersOf(q);
    const max = q.int('MaxRecords', { min: 20, max: 100 }) ?? 100;
    const all = instances.list().filter((i) => filters.every((f) => f(i))).sort((x, y) => x.id.localeCompare(y.id));
    const marker = q.str('Marker');
    const start = marker === undefined ? 0 : Math.max(0, all.findIndex((i) => i.id === marker));
    const slice = all.slice(start, start + max);
    const next = all[start + max];
    return { DBInstances: members(slice.map(instanceXml), 'DBInstance'), ...(next ? { Marker: next.id } : {}) };
  };
  a['ModifyDBInstance'] = async (ctx, q) => {
    const id = q.required('DBInstanceIdentifier');
    ctx.authorize('rds:ModifyDBInstance', arnOf(id));
    const inst = instance(id);
    const iam = q.bool('EnableIAMDatabaseAuthentication');
    // Everything else RDS can modify (class, storage, engine version, …) belongs to the server iamdb fronts.
    const known = new Set(['Action', 'Version', 'DBInstanceIdentifier', 'EnableIAMDatabaseAuthentication', 'ApplyImmediately']);
    const unsupported = q.names().filter((n) => !known.has(n));
    if (unsupported.length > 0) throw new IamdbError('API_NOT_SUPPORTED', { message: `iamdb can modify only EnableIAMDatabaseAuthentication; not supported: ${unsupported.slice(0, 5).join(', ')}` });
    // No maintenance windows here: the change applies at once whatever ApplyImmediately says (docs/control-plane.md).
    if (iam !== undefined && iam !== inst.iamDatabaseAuthentication) await instances.setIamDatabaseAuthentication(inst.id, iam);
    return { DBInstance: instanceXml(inst) };
  };
  a['ListTagsForResource'] = (ctx, q) => {
    const arn = canonicalArn(q.required('ResourceName'));
    ctx.authorize('rds:ListTagsForResource', arn);
    const inst = byArn(arn);
    return { TagList: members(Object.entries(inst.tags).map(([Key, Value]) => ({ Key, Value })), 'Tag') };
  };
  a['AddTagsToResource'] = async (ctx, q) => {
    const arn = canonicalArn(q.required('ResourceName'));
    const tags = q.tags('Tags');
    ctx.authorize('rds:AddTagsToResource', arn, { context: requestTagContext(tags) });
    const inst = byArn(arn);
    const merged = { ...inst.tags, ...tags };
    checkTags(merged, tags);
    await instances.setTags(inst.id, merged);
    return undefined;
  };
  a['RemoveTagsFromResource'] = async (ctx, q) => {
    const arn = canonicalArn(q.required('ResourceName'));
    const keys = q.strings('TagKeys');
    ctx.authorize('rds:RemoveTagsFromResource', arn, { context: { 'aws:TagKeys': keys } });
    const inst = byArn(arn);
    const kept = Object.fromEntries(Object.entries(inst.tags).filter(([k]) => !keys.includes(k)));
    await instances.setTags(inst.id, kept);
    return undefined;
  };

  // ---- iamdb's own: adopting an existing server ----------------------------
  const hostPortParam = (q: QueryParams, name: string): { host: string; port: number } => {
    const v = q.required(name);
    if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-_]+):\d{1,5}$/.test(v)) throw invalid(`${name} must be host:port, e.g. 127.0.0.1:7433.`);
    const hp = parseHostPort(v);
    if (hp.port < 1 || hp.port > 65535) throw invalid(`${name} must have a port from 1 to 65535.`);
    return hp;
  };
  a['RegisterDBInstance'] = async (ctx, q) => {
    const id = q.required('DBInstanceIdentifier');
    if (!/^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}$/.test(id) || id.endsWith('-')) {
      throw invalid('The parameter DBInstanceIdentifier is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens.');
    }
    const tags = q.tags('Tags');
    const tagContext = requestTagContext(tags);
    ctx.authorize('rds:RegisterDBInstance', arnOf(id), { context: tagContext });
    // Tags given on create are also an rds:AddTagsToResource, as RDS authorizes them on CreateDBInstance
    // ("RDS performs additional authorization on the rds:AddTagsToResource action",
    // security_iam_id-based-policy-examples-grant-permissions-tags-on-create.html). Checked before anything starts.
    if (Object.keys(tags).length > 0) ctx.authorize('rds:AddTagsToResource', arnOf(id), { context: tagContext });
    checkTags(tags, tags);
    const engine = q.required('Engine');
    if (engine !== 'postgres' && engine !== 'mysql' && engine !== 'mariadb') throw invalid(`Invalid DB engine: ${engine.slice(0, 32)}. iamdb fronts postgres, mysql and mariadb.`);
    const tlsMode = q.str('TargetTlsMode') ?? DEFAULT_TARGET_TLS_MODE;
    if (!(TARGET_TLS_MODES as readonly string[]).includes(tlsMode)) throw invalid('TargetTlsMode must be disable, prefer, require, verify-ca or verify-full.');
    const ca = q.str('TargetTlsCaFile');
    if ((tlsMode === 'verify-ca' || tlsMode === 'verify-full') && ca === undefined) throw invalid(`TargetTlsCaFile is required when TargetTlsMode is ${tlsMode}.`);
    if (ca !== undefined) checkCaFile(ca);
    const aliases = q.strings('Aliases');
    for (const alias of aliases) {
      if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-_]+)(:\d{1,5})?$/.test(alias)) throw invalid(`Aliases must be host or host:port, got ${alias.slice(0, 128)}.`);
    }
    const serverName = q.str('TargetTlsServerName');
    const def: InstanceDefinition = {
      id,
      engineName: engine,
      listen: hostPortParam(q, 'ListenAddress'),
      aliases,
      target: hostPortParam(q, 'TargetAddress'),
      targetTls: { mode: tlsMode as InstanceDefinition['targetTls']['mode'], ...(ca !== undefined ? { ca } : {}), ...(serverName !== undefined ? { serverName } : {}) },
      master: { username: q.required('MasterUsername'), password: new Secret(q.required('MasterUserPassword')) },
      iamDatabaseAuthentication: q.bool('EnableIAMDatabaseAuthentication') ?? false,
      tags,
    };
    return { DBInstance: instanceXml(await deps.register(def)) };
  };
  a['DeregisterDBInstance'] = async (ctx, q) => {
    const id = q.required('DBInstanceIdentifier');
    ctx.authorize('rds:DeregisterDBInstance', arnOf(id));
    const inst = await deps.deregister(id);
    return { DBInstance: { ...instanceXml(inst), DBInstanceStatus: 'deleted' } };
  };

  return {
    protocol: 'query',
    name: 'rds',
    xmlns: 'http://rds.amazonaws.com/doc/2014-10-31/',
    version: '2014-10-31',
    actions: a,
    errorOverrides: { API_VALIDATION: { code: 'InvalidParameterValue' }, API_NOT_SUPPORTED: { code: 'InvalidParameterCombination' } },
  };
}
