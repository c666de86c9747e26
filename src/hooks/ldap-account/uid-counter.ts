/**
 * uidNumber allocation from a counter entry (the `uidNext` pattern).
 *
 * One modify deletes the value we read and adds value+1. The directory applies a modify
 * atomically, so of two allocators that read the same value only one can delete it; the other
 * gets noSuchAttribute (or a constraint violation on servers that check SINGLE-VALUE early),
 * re-reads and tries again after a jittered back-off. No lock, no second round trip.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Attribute, Change, ConstraintViolationError, NoSuchAttributeError, TypeOrValueExistsError, type Client } from 'ldapts';
import { firstValue } from '../../shared/ldap/index.js';
import { HookError } from '../hook.js';

export interface AllocationStats {
  /** Allocations that succeeded. */
  allocated: number;
  /** Attempts that lost a race and were retried. */
  retries: number;
  /** Most attempts one allocation needed (to judge maxAllocationAttempts). */
  maxAttempts: number;
}

const BACKOFF_BASE_MS = 10;
const BACKOFF_CAP_MS = 500;

export class UidCounter {
  readonly stats: AllocationStats = { allocated: 0, retries: 0, maxAttempts: 0 };

  constructor(
    private readonly dn: string,
    private readonly attribute: string,
    private readonly maxAttempts: number,
  ) {}

  /** Take the next uidNumber. Throws HookError when the counter is missing or the race is lost too often. */
  async allocate(client: Client, signal?: AbortSignal): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      const current = await this.read(client);
      try {
        await client.modify(this.dn, [
          new Change({ operation: 'delete', modification: new Attribute({ type: this.attribute, values: [String(current)] }) }),
          new Change({ operation: 'add', modification: new Attribute({ type: this.attribute, values: [String(current + 1)] }) }),
        ]);
        this.stats.allocated++;
        this.stats.maxAttempts = Math.max(this.stats.maxAttempts, attempt);
        return current;
      } catch (err) {
        if (!lostRace(err)) throw err;
        this.stats.retries++;
        if (attempt >= this.maxAttempts)
          throw new HookError('Could not allocate a user id right now; please try again', `lost the ${this.dn} race ${attempt} times`);
        // Full jitter: contenders that collided spread out instead of colliding again in step.
        const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 10));
        await sleep(Math.random() * ceiling, undefined, signal ? { signal } : undefined);
      }
    }
  }

  private async read(client: Client): Promise<number> {
    const { searchEntries } = await client.search(this.dn, { scope: 'base', filter: '(objectClass=*)', attributes: [this.attribute] });
    const raw = searchEntries[0] ? firstValue(searchEntries[0], this.attribute) : undefined;
    const value = raw === undefined ? NaN : Number(raw);
    if (!Number.isSafeInteger(value) || value < 0)
      throw new HookError('User accounts cannot be created right now', `counter ${this.dn} has no usable ${this.attribute} (${String(raw)})`);
    return value;
  }
}

function lostRace(err: unknown): boolean {
  return err instanceof NoSuchAttributeError || err instanceof ConstraintViolationError || err instanceof TypeOrValueExistsError;
}
