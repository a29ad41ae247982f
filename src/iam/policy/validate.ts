/**
 * Validation of a policy document (already JSON-decoded) for one policy kind.
 * It never stops at the first problem: every problem is collected with its
 * path so a caller can show them all at once. Evaluation never runs on a
 * document that has problems (see parse.ts).
 */
import { parseOperatorName } from '../conditions/index.js';
import { policyMessages as M } from './messages.js';
import { POLICY_VERSIONS, type PolicyKind, type PolicyProblem } from './types.js';

const TOP_KEYS = new Set(['Version', 'Id', 'Statement']);
const STATEMENT_KEYS = new Set(['Sid', 'Effect', 'Action', 'NotAction', 'Resource', 'NotResource', 'Principal', 'NotPrincipal', 'Condition']);
const PRINCIPAL_TYPES = new Set(['AWS', 'Service', 'Federated', 'CanonicalUser']);
const VENDOR = /^[A-Za-z0-9-]+$/;
const ACCOUNT_ID = /^\d{12}$/;
// arn:partition:service:region:account:resource; principals are iam or sts ARNs.
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:(iam::\d{12}:(root|user\/.+|role\/.+|federated-user\/.+)|sts::\d{12}:(assumed-role\/.+|federated-user\/.+))$/;
const SERVICE_PRINCIPAL = /^[a-z0-9.-]+\.[a-z]+$/;

/** Kinds whose statements must not name a principal. */
export function forbidsPrincipal(kind: PolicyKind): boolean {
  return kind === 'identity' || kind === 'boundary' || kind === 'session';
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates a decoded document; returns every problem (empty when valid). */
export function validatePolicyDocument(doc: unknown, kind: PolicyKind): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const add = (path: string, message: string): void => {
    problems.push({ path, message });
  };
  if (!isPlainObject(doc)) {
    add('', M.syntax);
    return problems;
  }
  for (const key of Object.keys(doc)) if (!TOP_KEYS.has(key)) add(key, M.syntax);
  if ('Version' in doc && !(POLICY_VERSIONS as readonly unknown[]).includes(doc.Version)) add('Version', M.invalidVersion);
  if ('Id' in doc && typeof doc.Id !== 'string') add('Id', M.syntax);

  const raw = doc.Statement;
  if (raw === undefined) {
    add('Statement', M.missingStatement);
    return problems;
  }
  const list = Array.isArray(raw) ? raw : [raw];
  const sids = new Set<string>();
  list.forEach((st, i) => {
    const path = Array.isArray(raw) ? `Statement[${i}]` : 'Statement';
    validateStatement(st, path, kind, sids, add);
  });
  return problems;
}

type Add = (path: string, message: string) => void;

function validateStatement(st: unknown, path: string, kind: PolicyKind, sids: Set<string>, add: Add): void {
  if (!isPlainObject(st)) {
    add(path, M.syntax);
    return;
  }
  for (const key of Object.keys(st)) if (!STATEMENT_KEYS.has(key)) add(`${path}.${key}`, M.syntax);

  if ('Sid' in st) {
    if (typeof st.Sid !== 'string') add(`${path}.Sid`, M.syntax);
    else {
      // IAM-held documents restrict Sids to alphanumerics; resource policies of other services do not.
      if (kind !== 'resource' && !/^[0-9A-Za-z]*$/.test(st.Sid)) add(`${path}.Sid`, M.sidFormat);
      if (st.Sid !== '' && sids.has(st.Sid)) add(`${path}.Sid`, M.duplicateSid);
      sids.add(st.Sid);
    }
  }

  if (!('Effect' in st)) add(path, M.missingEffect);
  else if (st.Effect !== 'Allow' && st.Effect !== 'Deny') {
    add(`${path}.Effect`, typeof st.Effect === 'string' ? M.invalidEffect(st.Effect) : M.syntax);
  }

  // Actions
  const hasAction = 'Action' in st;
  const hasNotAction = 'NotAction' in st;
  if (hasAction && hasNotAction) add(path, M.bothActions);
  else if (!hasAction && !hasNotAction) add(path, M.missingActions);
  for (const field of ['Action', 'NotAction'] as const) {
    if (field in st) validateStringList(st[field], `${path}.${field}`, add, M.missingActions, validateAction);
  }

  // Resources
  const hasResource = 'Resource' in st;
  const hasNotResource = 'NotResource' in st;
  if (hasResource && hasNotResource) add(path, M.bothResources);
  else if (!hasResource && !hasNotResource && (kind === 'identity' || kind === 'boundary' || kind === 'session')) {
    add(path, M.missingResources);
  }
  for (const field of ['Resource', 'NotResource'] as const) {
    if (field in st) validateStringList(st[field], `${path}.${field}`, add, M.missingResources, validateResource);
  }

  // Principals
  const hasPrincipal = 'Principal' in st;
  const hasNotPrincipal = 'NotPrincipal' in st;
  if (forbidsPrincipal(kind)) {
    if (hasPrincipal) add(`${path}.Principal`, M.principalNotAllowed);
    if (hasNotPrincipal) add(`${path}.NotPrincipal`, M.principalNotAllowed);
  } else {
    if (hasPrincipal && hasNotPrincipal) add(path, M.bothPrincipals);
    else if (!hasPrincipal && !hasNotPrincipal) add(path, M.missingPrincipal);
    for (const field of ['Principal', 'NotPrincipal'] as const) {
      if (field in st) validatePrincipal(st[field], `${path}.${field}`, add);
    }
  }

  if ('Condition' in st) validateCondition(st.Condition, `${path}.Condition`, add);
}

function validateStringList(
  value: unknown,
  path: string,
  add: Add,
  emptyMessage: string,
  each: (v: string, path: string, add: Add) => void,
): void {
  if (typeof value === 'string') {
    each(value, path, add);
    return;
  }
  if (!Array.isArray(value)) {
    add(path, M.syntax);
    return;
  }
  if (value.length === 0) add(path, emptyMessage);
  value.forEach((v, i) => {
    if (typeof v !== 'string') add(`${path}[${i}]`, M.syntax);
    else each(v, `${path}[${i}]`, add);
  });
}

function validateAction(action: string, path: string, add: Add): void {
  if (action === '*') return;
  const colons = action.split(':').length - 1;
  if (colons === 0) add(path, M.vendorPrefix);
  else if (colons > 1) add(path, M.oneColon);
  else {
    const vendor = action.slice(0, action.indexOf(':'));
    if (!VENDOR.test(vendor) || action.endsWith(':')) add(path, M.vendorPrefix);
  }
}

function validateResource(resource: string, path: string, add: Add): void {
  if (resource === '*') return;
  if (!resource.startsWith('arn:') || resource.split(':').length < 6) add(path, M.resourceFormat(resource));
}

function validatePrincipal(value: unknown, path: string, add: Add): void {
  if (value === '*') return;
  if (!isPlainObject(value) || Object.keys(value).length === 0) {
    add(path, M.syntax);
    return;
  }
  for (const type of Object.keys(value)) {
    const p = `${path}.${type}`;
    if (!PRINCIPAL_TYPES.has(type)) {
      add(p, M.syntax);
      continue;
    }
    const raw = value[type];
    const list = typeof raw === 'string' ? [raw] : raw;
    if (!Array.isArray(list) || list.length === 0) {
      add(p, M.syntax);
      continue;
    }
    list.forEach((entry, i) => {
      const ep = Array.isArray(raw) ? `${p}[${i}]` : p;
      if (typeof entry !== 'string') {
        add(ep, M.syntax);
        return;
      }
      if (!validPrincipalValue(type, entry)) add(ep, M.invalidPrincipal(type, entry));
    });
  }
}

function validPrincipalValue(type: string, v: string): boolean {
  switch (type) {
    case 'AWS':
      return v === '*' || ACCOUNT_ID.test(v) || PRINCIPAL_ARN.test(v);
    case 'Service':
      return v === '*' || SERVICE_PRINCIPAL.test(v);
    case 'Federated':
    case 'CanonicalUser':
      return v.length > 0;
    default:
      return false;
  }
}

function validateCondition(value: unknown, path: string, add: Add): void {
  if (!isPlainObject(value)) {
    add(path, M.syntax);
    return;
  }
  for (const op of Object.keys(value)) {
    const opPath = `${path}.${op}`;
    const name = parseOperatorName(op);
    if (name === undefined) add(opPath, M.invalidOperator(op));
    const block = value[op];
    if (!isPlainObject(block) || Object.keys(block).length === 0) {
      add(opPath, M.syntax);
      continue;
    }
    for (const key of Object.keys(block)) {
      const keyPath = `${opPath}.${key}`;
      const colon = key.indexOf(':');
      if (colon <= 0) add(keyPath, M.vendorPrefix);
      const raw = block[key];
      const list = Array.isArray(raw) ? raw : [raw];
      if (list.length === 0) add(keyPath, M.syntax);
      list.forEach((v, i) => {
        const vp = Array.isArray(raw) ? `${keyPath}[${i}]` : keyPath;
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') add(vp, M.syntax);
        else if (name?.base === 'Null' && !/^(true|false)$/i.test(String(v))) add(vp, M.nullValue(String(v)));
      });
    }
  }
}
