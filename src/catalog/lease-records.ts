import { sql } from './kysely-runtime.ts';
import { CatalogRecords } from './records.ts';

/** The outcome of one attempt to take or renew a lease. */
export interface LeaseClaim {
  /** True when the caller holds the lease now. */
  held: boolean;
  /** Who holds it (the caller when `held`); undefined when nobody does. */
  holder?: string;
  /** Counts hand-overs: a new holder gets a higher term than every one before. */
  term?: number;
  /** How long the lease has left, by the database's clock. */
  remainingMs?: number;
}

/** The database's clock in milliseconds: every node compares expiries against the same clock, whatever its own says. */
const dbNowMs = () => sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`;

/**
 * Leases on PostgreSQL: one row per name with its holder and an expiry in the database's clock. A
 * holder renews its own row; anyone takes a row whose expiry has passed. One statement does both,
 * so two nodes never both hold a lease.
 */
export class LeaseRecords extends CatalogRecords {
  /** Take the lease, or renew it when the caller already holds it, for `ttlMs` from now. */
  async claim(name: string, holder: string, ttlMs: number): Promise<LeaseClaim> {
    return this.run('claiming a lease', async () => {
      const { rows } = await sql<{ holder: string; term: string | number; remaining_ms: string | number }>`
        INSERT INTO leases (name, holder, term, acquired_at_ms, expires_at_ms)
        VALUES (${name}, ${holder}, 1, ${dbNowMs()}, ${dbNowMs()} + ${ttlMs}::bigint)
        ON CONFLICT (name) DO UPDATE SET
          holder = EXCLUDED.holder,
          term = CASE WHEN leases.holder = EXCLUDED.holder THEN leases.term ELSE leases.term + 1 END,
          acquired_at_ms = CASE WHEN leases.holder = EXCLUDED.holder THEN leases.acquired_at_ms ELSE EXCLUDED.acquired_at_ms END,
          expires_at_ms = EXCLUDED.expires_at_ms
        WHERE leases.holder = EXCLUDED.holder OR leases.expires_at_ms < ${dbNowMs()}
        RETURNING holder, term, expires_at_ms - ${dbNowMs()} AS remaining_ms`.execute(this.db);
      const mine = rows[0];
      if (mine) return { held: true, holder: mine.holder, term: Number(mine.term), remainingMs: Number(mine.remaining_ms) };
      return { held: false, ...(await this.current(name)) };
    });
  }

  /** Who holds the lease, while it has not expired. */
  async current(name: string): Promise<Omit<LeaseClaim, 'held'>> {
    return this.run('reading a lease', async () => {
      const { rows } = await sql<{ holder: string; term: string | number; remaining_ms: string | number }>`
        SELECT holder, term, expires_at_ms - ${dbNowMs()} AS remaining_ms FROM leases WHERE name = ${name} AND expires_at_ms >= ${dbNowMs()}`.execute(this.db);
      const row = rows[0];
      return row ? { holder: row.holder, term: Number(row.term), remainingMs: Number(row.remaining_ms) } : {};
    });
  }

  /** Give the lease up at once (a clean shutdown), so that another node need not wait for it to expire. */
  async release(name: string, holder: string): Promise<void> {
    await this.run('releasing a lease', () => sql`UPDATE leases SET expires_at_ms = 0 WHERE name = ${name} AND holder = ${holder}`.execute(this.db));
  }
}
