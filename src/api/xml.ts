/**
 * The XML the Query protocol answers with (IAM, STS, RDS). Output only: the
 * requests are form-encoded, so iamdb never parses XML. A response is a tree
 * of plain objects (element name → content, in insertion order) and lists
 * whose item element name the service's model fixes (`member` for IAM and
 * STS, `DBInstance`, `Tag`, … for RDS).
 */

export type XmlContent = string | number | boolean | Date | undefined | null | XmlElements | XmlList;
export interface XmlElements {
  readonly [name: string]: XmlContent;
}

/** A list: each item becomes `<itemName>…</itemName>`. */
export class XmlList {
  constructor(
    readonly itemName: string,
    readonly items: readonly XmlContent[],
  ) {}
}

/** A list with AWS's default item name `member`, or the one the model gives. */
export function members(items: readonly XmlContent[], itemName = 'member'): XmlList {
  return new XmlList(itemName, items);
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#13;' };

/** Escapes element content (quotes stay as they are, as AWS sends them) or, with `attribute`, an attribute value. */
export function xmlEscape(text: string, attribute = false): string {
  return text.replace(attribute ? /[&<>"'\r]/g : /[&<>\r]/g, (c) => ENTITIES[c]!);
}

/** Timestamps as AWS prints them in XML: ISO 8601, UTC, with milliseconds dropped. */
export function xmlTimestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function renderContent(value: XmlContent, out: string[]): void {
  if (value === undefined || value === null) return;
  if (value instanceof XmlList) {
    for (const item of value.items) renderElement(value.itemName, item, out);
    return;
  }
  if (value instanceof Date) {
    out.push(xmlTimestamp(value));
    return;
  }
  if (typeof value === 'object') {
    for (const [name, child] of Object.entries(value)) renderElement(name, child, out);
    return;
  }
  out.push(xmlEscape(String(value)));
}

function renderElement(name: string, value: XmlContent, out: string[]): void {
  if (value === undefined || value === null) return;
  out.push(`<${name}>`);
  renderContent(value, out);
  out.push(`</${name}>`);
}

/** `<name xmlns="…">content</name>` as a string. */
export function renderXml(name: string, content: XmlContent, xmlns?: string): string {
  const out: string[] = [xmlns === undefined ? `<${name}>` : `<${name} xmlns="${xmlEscape(xmlns, true)}">`];
  renderContent(content, out);
  out.push(`</${name}>`);
  return out.join('');
}
