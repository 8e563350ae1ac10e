/** One schema change. Statements run in order in one transaction; each must be safe to run twice. */
export interface Migration {
  /** Stable and sortable: the order migrations run in, recorded in `edaflow_migrations`. */
  readonly id: string;
  readonly statements: readonly string[];
}
