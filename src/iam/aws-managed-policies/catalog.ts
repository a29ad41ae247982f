/**
 * The AWS managed policies iamdb ships: the ones people attach in database
 * work, with AWS's own documents and metadata as the AWS Managed Policy
 * Reference guide publishes them (document of the default version, version
 * id, creation and last edit time). Actions of services iamdb does not serve
 * stay in the documents: they simply never match a request.
 *
 * Documents are written with `arn:aws:` resources; another partition gets
 * its own partition in their place, as AWS's copies there have.
 */
import { READ_ONLY_ACCESS_DOCUMENT } from './read-only-access.js';

/** One AWS managed policy as published. */
export interface AwsManagedPolicyData {
  readonly name: string;
  /** `/` for all of these; job-function policies would have `/job-function/`. */
  readonly path: string;
  readonly description: string;
  /** The default version, e.g. `v13`. */
  readonly versionId: string;
  /** Creation time of the policy (to the minute, as the reference guide gives it). */
  readonly createDate: string;
  /** Creation time of the default version: the policy's UpdateDate. */
  readonly updateDate: string;
  readonly document: Readonly<Record<string, unknown>>;
}

const anyResource = '*';

export const AWS_MANAGED_POLICIES: readonly AwsManagedPolicyData[] = [
  {
    name: 'AdministratorAccess',
    path: '/',
    description: 'Provides full access to AWS services and resources.',
    versionId: 'v1',
    createDate: '2015-02-06T18:39:46Z',
    updateDate: '2015-02-06T18:39:46Z',
    document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: anyResource }] },
  },
  {
    name: 'PowerUserAccess',
    path: '/',
    description: 'Provides full access to AWS services and resources, but does not allow management of Users and groups.',
    versionId: 'v12',
    createDate: '2015-02-06T18:39:47Z',
    updateDate: '2026-02-12T17:59:14Z',
    document: {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', NotAction: ['iam:*', 'organizations:*', 'account:*'], Resource: anyResource },
        {
          Effect: 'Allow',
          Action: [
            'account:GetAccountInformation',
            'account:GetGovCloudAccountInformation',
            'account:GetPrimaryEmail',
            'account:ListRegions',
            'iam:CreateServiceLinkedRole',
            'iam:DeleteServiceLinkedRole',
            'iam:ListRoles',
            'organizations:DescribeEffectivePolicy',
            'organizations:DescribeOrganization',
          ],
          Resource: anyResource,
        },
      ],
    },
  },
  {
    name: 'ReadOnlyAccess',
    path: '/',
    description: 'Provides read-only access to AWS services and resources.',
    versionId: 'v188',
    createDate: '2015-02-06T18:39:48Z',
    updateDate: '2026-07-21T18:42:30Z',
    /** About 2,900 actions: far past the 6,144-character quota of customer managed policies, as on AWS. */
    document: READ_ONLY_ACCESS_DOCUMENT,
  },
  {
    name: 'IAMFullAccess',
    path: '/',
    description: 'Provides full access to IAM via the AWS Management Console.',
    versionId: 'v2',
    createDate: '2015-02-06T18:40:38Z',
    updateDate: '2019-06-21T19:40:00Z',
    document: {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: [
            'iam:*',
            'organizations:DescribeAccount',
            'organizations:DescribeOrganization',
            'organizations:DescribeOrganizationalUnit',
            'organizations:DescribePolicy',
            'organizations:ListChildren',
            'organizations:ListParents',
            'organizations:ListPoliciesForTarget',
            'organizations:ListRoots',
            'organizations:ListPolicies',
            'organizations:ListTargetsForPolicy',
          ],
          Resource: anyResource,
        },
      ],
    },
  },
  {
    name: 'IAMReadOnlyAccess',
    path: '/',
    description: 'Provides read only access to IAM via the AWS Management Console.',
    versionId: 'v4',
    createDate: '2015-02-06T18:40:39Z',
    updateDate: '2018-01-25T19:11:27Z',
    document: {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: [
            'iam:GenerateCredentialReport',
            'iam:GenerateServiceLastAccessedDetails',
            'iam:Get*',
            'iam:List*',
            'iam:SimulateCustomPolicy',
            'iam:SimulatePrincipalPolicy',
          ],
          Resource: anyResource,
        },
      ],
    },
  },
  {
    name: 'AmazonRDSFullAccess',
    path: '/',
    description: 'Provides full access to Amazon RDS via the AWS Management Console.',
    versionId: 'v13',
    createDate: '2015-02-06T18:40:52Z',
    updateDate: '2023-04-14T12:27:01Z',
    document: {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: [
            'rds:*',
            'application-autoscaling:DeleteScalingPolicy',
            'application-autoscaling:DeregisterScalableTarget',
            'application-autoscaling:DescribeScalableTargets',
            'application-autoscaling:DescribeScalingActivities',
            'application-autoscaling:DescribeScalingPolicies',
            'application-autoscaling:PutScalingPolicy',
            'application-autoscaling:RegisterScalableTarget',
            'cloudwatch:DescribeAlarms',
            'cloudwatch:GetMetricStatistics',
            'cloudwatch:PutMetricAlarm',
            'cloudwatch:DeleteAlarms',
            'cloudwatch:ListMetrics',
            'cloudwatch:GetMetricData',
            'ec2:DescribeAccountAttributes',
            'ec2:DescribeAvailabilityZones',
            'ec2:DescribeCoipPools',
            'ec2:DescribeInternetGateways',
            'ec2:DescribeLocalGatewayRouteTablePermissions',
            'ec2:DescribeLocalGatewayRouteTables',
            'ec2:DescribeLocalGatewayRouteTableVpcAssociations',
            'ec2:DescribeLocalGateways',
            'ec2:DescribeSecurityGroups',
            'ec2:DescribeSubnets',
            'ec2:DescribeVpcAttribute',
            'ec2:DescribeVpcs',
            'ec2:GetCoipPoolUsage',
            'sns:ListSubscriptions',
            'sns:ListTopics',
            'sns:Publish',
            'logs:DescribeLogStreams',
            'logs:GetLogEvents',
            'outposts:GetOutpostInstanceTypes',
            'devops-guru:GetResourceCollection',
          ],
          Resource: anyResource,
        },
        { Effect: 'Allow', Action: 'pi:*', Resource: 'arn:aws:pi:*:*:metrics/rds/*' },
        {
          Effect: 'Allow',
          Action: 'iam:CreateServiceLinkedRole',
          Resource: anyResource,
          Condition: { StringLike: { 'iam:AWSServiceName': ['rds.amazonaws.com', 'rds.application-autoscaling.amazonaws.com'] } },
        },
        {
          Action: ['devops-guru:SearchInsights', 'devops-guru:ListAnomaliesForInsight'],
          Effect: 'Allow',
          Resource: anyResource,
          Condition: { 'ForAllValues:StringEquals': { 'devops-guru:ServiceNames': ['RDS'] }, Null: { 'devops-guru:ServiceNames': 'false' } },
        },
      ],
    },
  },
  {
    name: 'AmazonRDSReadOnlyAccess',
    path: '/',
    description: 'Provides read only access to Amazon RDS via the AWS Management Console.',
    versionId: 'v7',
    createDate: '2015-02-06T18:40:53Z',
    updateDate: '2023-04-14T12:32:00Z',
    document: {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: [
            'rds:Describe*',
            'rds:ListTagsForResource',
            'ec2:DescribeAccountAttributes',
            'ec2:DescribeAvailabilityZones',
            'ec2:DescribeInternetGateways',
            'ec2:DescribeSecurityGroups',
            'ec2:DescribeSubnets',
            'ec2:DescribeVpcAttribute',
            'ec2:DescribeVpcs',
          ],
          Resource: anyResource,
        },
        {
          Effect: 'Allow',
          Action: [
            'cloudwatch:GetMetricStatistics',
            'cloudwatch:ListMetrics',
            'cloudwatch:GetMetricData',
            'logs:DescribeLogStreams',
            'logs:GetLogEvents',
            'devops-guru:GetResourceCollection',
          ],
          Resource: anyResource,
        },
        {
          Action: ['devops-guru:SearchInsights', 'devops-guru:ListAnomaliesForInsight'],
          Effect: 'Allow',
          Resource: anyResource,
          Condition: { 'ForAllValues:StringEquals': { 'devops-guru:ServiceNames': ['RDS'] }, Null: { 'devops-guru:ServiceNames': 'false' } },
        },
      ],
    },
  },
  {
    name: 'AmazonRDSDataFullAccess',
    path: '/',
    description:
      'Allows full access to use the RDS data APIs, secret store APIs for RDS database credentials, and DB console query management APIs to execute SQL statements on Aurora Serverless clusters in the AWS account.',
    versionId: 'v3',
    createDate: '2018-11-20T21:29:00Z',
    updateDate: '2019-11-20T21:58:46Z',
    document: {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'SecretsManagerDbCredentialsAccess',
          Effect: 'Allow',
          Action: [
            'secretsmanager:GetSecretValue',
            'secretsmanager:PutResourcePolicy',
            'secretsmanager:PutSecretValue',
            'secretsmanager:DeleteSecret',
            'secretsmanager:DescribeSecret',
            'secretsmanager:TagResource',
          ],
          Resource: 'arn:aws:secretsmanager:*:*:secret:rds-db-credentials/*',
        },
        {
          Sid: 'RDSDataServiceAccess',
          Effect: 'Allow',
          Action: [
            'dbqms:CreateFavoriteQuery',
            'dbqms:DescribeFavoriteQueries',
            'dbqms:UpdateFavoriteQuery',
            'dbqms:DeleteFavoriteQueries',
            'dbqms:GetQueryString',
            'dbqms:CreateQueryHistory',
            'dbqms:DescribeQueryHistory',
            'dbqms:UpdateQueryHistory',
            'dbqms:DeleteQueryHistory',
            'rds-data:ExecuteSql',
            'rds-data:ExecuteStatement',
            'rds-data:BatchExecuteStatement',
            'rds-data:BeginTransaction',
            'rds-data:CommitTransaction',
            'rds-data:RollbackTransaction',
            'secretsmanager:CreateSecret',
            'secretsmanager:ListSecrets',
            'secretsmanager:GetRandomPassword',
            'tag:GetResources',
          ],
          Resource: anyResource,
        },
      ],
    },
  },
  {
    name: 'SecretsManagerReadWrite',
    path: '/',
    description:
      'Provides read/write access to AWS Secrets Manager via the AWS Management Console. Note: this excludes IAM actions, so combine with IAMFullAccess if rotation configuration is required.',
    versionId: 'v6',
    createDate: '2018-04-04T18:05:00Z',
    updateDate: '2026-08-25T23:37:10Z',
    document: {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'BasePermissions',
          Effect: 'Allow',
          Action: [
            'secretsmanager:*',
            'cloudformation:CreateChangeSet',
            'cloudformation:DescribeChangeSet',
            'cloudformation:DescribeStackResource',
            'cloudformation:DescribeStacks',
            'cloudformation:ExecuteChangeSet',
            'docdb-elastic:GetCluster',
            'docdb-elastic:ListClusters',
            'ec2:DescribeSecurityGroups',
            'ec2:DescribeSubnets',
            'ec2:DescribeVpcs',
            'kms:DescribeKey',
            'kms:ListAliases',
            'kms:ListKeys',
            'lambda:ListFunctions',
            'rds:DescribeDBClusters',
            'rds:DescribeDBInstances',
            'redshift:DescribeClusters',
            'redshift-serverless:ListWorkgroups',
            'redshift-serverless:GetNamespace',
            'tag:GetResources',
          ],
          Resource: anyResource,
        },
        {
          Sid: 'LambdaPermissions',
          Effect: 'Allow',
          Action: ['lambda:AddPermission', 'lambda:CreateFunction', 'lambda:GetFunction', 'lambda:InvokeFunction', 'lambda:UpdateFunctionConfiguration'],
          Resource: 'arn:aws:lambda:*:*:function:SecretsManager*',
        },
        {
          Sid: 'SARPermissions',
          Effect: 'Allow',
          Action: ['serverlessrepo:CreateCloudFormationChangeSet', 'serverlessrepo:GetApplication'],
          Resource: 'arn:aws:serverlessrepo:*:*:applications/SecretsManager*',
        },
        {
          Sid: 'S3Permissions',
          Effect: 'Allow',
          Action: ['s3:GetObject'],
          Resource: ['arn:aws:s3:::awsserverlessrepo-changesets*', 'arn:aws:s3:::secrets-manager-rotation-apps-*/*'],
        },
        {
          Sid: 'CloudFormationTagOnCreate',
          Effect: 'Allow',
          Action: ['cloudformation:TagResource', 'cloudformation:UntagResource'],
          Resource: anyResource,
          Condition: { StringEquals: { 'cloudformation:CreateAction': ['CreateChangeSet', 'ExecuteChangeSet'] } },
        },
      ],
    },
  },
  {
    name: 'AWSKeyManagementServicePowerUser',
    path: '/',
    description: 'Provides access to AWS Key Management Service (KMS).',
    versionId: 'v2',
    createDate: '2015-02-06T18:40:40Z',
    updateDate: '2017-03-07T00:55:11Z',
    document: {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: [
            'kms:CreateAlias',
            'kms:CreateKey',
            'kms:DeleteAlias',
            'kms:Describe*',
            'kms:GenerateRandom',
            'kms:Get*',
            'kms:List*',
            'kms:TagResource',
            'kms:UntagResource',
            'iam:ListGroups',
            'iam:ListRoles',
            'iam:ListUsers',
          ],
          Resource: anyResource,
        },
      ],
    },
  },
];
