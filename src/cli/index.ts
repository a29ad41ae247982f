/** Placeholder CLI; commands land with the gateway. */
export async function runCli(_argv: string[]): Promise<number> {
  process.stdout.write('iamdb: under construction\n');
  return 0;
}
