import type { ErrorSpec } from '../types.js';

/** Error codes of the RDS API (DB instances and proxies as the control plane shows them), with AWS's texts. */
export const rdsCodes = {
  /** DBInstanceNotFound. */
  RDS_DB_INSTANCE_NOT_FOUND: { kind: 'NotFound', message: 'DBInstance {id} not found.' },
  /** InvalidParameterValue / InvalidParameterCombination with AWS's text. */
  RDS_INVALID_PARAMETER: { kind: 'InvalidInput', message: '{message}' },
  /** The ARN given to a tagging action names no resource iamdb has. */
  RDS_RESOURCE_NOT_FOUND: { kind: 'NotFound', message: 'DBInstance {id} not found.' },
  /** DBInstanceAlreadyExists. */
  RDS_ALREADY_EXISTS: { kind: 'Conflict', message: 'DB instance already exists' },
  /** InvalidParameterCombination with AWS's text: parameters each valid, not together (an auth type of the other engine family). */
  RDS_INVALID_COMBINATION: { kind: 'InvalidInput', message: '{message}' },
  /** InvalidDBInstanceState: the instance cannot do this now (a proxy's target cannot be deregistered). */
  RDS_INSTANCE_INVALID_STATE: { kind: 'Conflict', message: '{message}' },
  /** DBClusterNotFoundFault: iamdb has no DB clusters, so any cluster named is unknown. */
  RDS_DB_CLUSTER_NOT_FOUND: { kind: 'NotFound', message: 'DBCluster {id} not found.' },
  /** DBProxyNotFoundFault: no proxy of that name (or resource id, in an ARN). */
  RDS_PROXY_NOT_FOUND: { kind: 'NotFound', message: 'DBProxy {name} not found.' },
  /** DBProxyAlreadyExistsFault: proxy names are unique in the account and Region. */
  RDS_PROXY_ALREADY_EXISTS: { kind: 'Conflict', message: 'A DB proxy named {name} already exists in this Region.' },
  /** DBProxyQuotaExceededFault: 20 proxies per account and Region, as on AWS. */
  RDS_PROXY_QUOTA_EXCEEDED: { kind: 'LimitExceeded', message: 'Your account already has the maximum number of DB proxies ({limit}) in this Region.' },
  /** DBProxyTargetGroupNotFoundFault: a proxy has one target group, `default`. */
  RDS_PROXY_TARGET_GROUP_NOT_FOUND: { kind: 'NotFound', message: 'DBProxyTargetGroup {group} not found for DB proxy {name}.' },
  /** DBProxyTargetNotFoundFault. */
  RDS_PROXY_TARGET_NOT_FOUND: { kind: 'NotFound', message: 'DBProxyTarget {id} not found in target group {group} of DB proxy {name}.' },
  /** DBProxyTargetAlreadyRegisteredFault. */
  RDS_PROXY_TARGET_ALREADY_REGISTERED: { kind: 'Conflict', message: 'DB instance {id} is already registered with DB proxy {name}.' },
  /** DBProxyEndpointNotFoundFault. */
  RDS_PROXY_ENDPOINT_NOT_FOUND: { kind: 'NotFound', message: 'DBProxyEndpoint {name} not found.' },
  /** DBProxyEndpointAlreadyExistsFault: endpoint names are unique in the account and Region, default endpoints (named like their proxy) included. */
  RDS_PROXY_ENDPOINT_ALREADY_EXISTS: { kind: 'Conflict', message: 'A DB proxy endpoint named {name} already exists in this Region.' },
  /** DBProxyEndpointQuotaExceededFault: 20 endpoints besides the default one, as on AWS. */
  RDS_PROXY_ENDPOINT_QUOTA_EXCEEDED: { kind: 'LimitExceeded', message: 'DB proxy {name} already has the maximum number of endpoints ({limit}).' },
  /** InvalidDBProxyStateFault: the proxy is creating, modifying or deleting, or came from the config file. */
  RDS_PROXY_INVALID_STATE: { kind: 'Conflict', message: '{message}' },
  /** InvalidDBProxyEndpointStateFault: the default endpoint cannot be deleted; an endpoint being deleted cannot be changed. */
  RDS_PROXY_ENDPOINT_INVALID_STATE: { kind: 'Conflict', message: '{message}' },
} as const satisfies Record<string, ErrorSpec>;
