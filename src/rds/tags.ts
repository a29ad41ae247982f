/**
 * RDS's rules for resource tags, shared by instances and proxies: keys of 1-128
 * characters not starting with `aws:`, values up to 256 characters, at most 50
 * tags on one resource.
 */
import { IamdbError } from '../errors/index.js';

export const MAX_TAGS_PER_RESOURCE = 50;

/** Checks `added` one by one, and that the resource has at most 50 tags once they are added (`all`). */
export function checkTags(all: Readonly<Record<string, string>>, added: Readonly<Record<string, string>>): void {
  const invalid = (message: string): IamdbError => new IamdbError('RDS_INVALID_PARAMETER', { message });
  for (const [k, v] of Object.entries(added)) {
    if (k.length < 1 || k.length > 128 || k.toLowerCase().startsWith('aws:')) throw invalid(`Invalid tag key: ${k.slice(0, 128)}`);
    if (v.length > 256) throw invalid(`Invalid tag value for key ${k.slice(0, 128)}`);
  }
  if (Object.keys(all).length > MAX_TAGS_PER_RESOURCE) throw invalid(`Cannot add tags: an RDS resource can have at most ${MAX_TAGS_PER_RESOURCE} tags.`);
}
