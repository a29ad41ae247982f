/**
 * A schema migration: one numbered, additive step. Steps only ever add
 * (tables, columns, indexes) so an older iamdb binary that meets a newer
 * schema fails loudly instead of misreading data.
 */
export interface Migration {
  /** 1, 2, 3, ... with no gaps; the order steps run in. */
  readonly step: number;
  /** Short label kept in `schema_migrations` for people reading the file. */
  readonly name: string;
  /** SQL run inside the step's transaction. */
  readonly sql: string;
}

/**
 * Checks that steps are numbered 1..n in order. Run at startup so a
 * mis-numbered step fails before it can touch a database.
 */
export function assertMigrationOrder(steps: readonly Migration[]): void {
  steps.forEach((m, i) => {
    if (m.step !== i + 1) {
      throw new RangeError(`migration "${m.name}" has step ${m.step}, expected ${i + 1}`);
    }
  });
}
