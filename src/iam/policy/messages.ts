/**
 * MalformedPolicyDocument texts. Where AWS's wording is documented or widely
 * observed it is reproduced exactly; the others (marked) are ours, written in
 * the same voice.
 */
export const policyMessages = {
  syntax: 'Syntax errors in policy.',
  principalNotAllowed: 'Policy document should not specify a principal.',
  missingPrincipal: 'Missing required field Principal',
  missingEffect: 'Missing required field Effect',
  missingStatement: 'Missing required field Statement',
  missingActions: 'Policy statement must contain actions.',
  missingResources: 'Policy statement must contain resources.',
  vendorPrefix: 'Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.',
  oneColon: 'Actions/Condition can contain only one colon.',
  duplicateSid: 'Statement IDs (SID) in a single policy must be unique.',
  sidFormat: 'Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*',
  invalidVersion: 'Invalid Version',
  invalidEffect: (effect: string) => `Invalid effect: ${effect}`,
  invalidOperator: (op: string) => `Invalid Condition operator: ${op}`,
  invalidPrincipal: (type: string, value: string) => `Invalid principal in policy: "${type}":"${value}"`,
  resourceFormat: (resource: string) => `Resource ${resource} must be in ARN format or "*".`,
  // ours: AWS reports these combinations as syntax errors without detail.
  bothActions: 'Policy statement must contain either Action or NotAction, not both.',
  bothResources: 'Policy statement must contain either Resource or NotResource, not both.',
  bothPrincipals: 'Policy statement must contain either Principal or NotPrincipal, not both.',
  nullValue: (v: string) => `Null condition value must be true or false, got ${v}`,
  invalidCharacters: 'Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+',
} as const;
