import { setImmediate } from "node:timers";
import type { SqliteDatabase } from "./sqlite-driver.js";
import { sqliteError } from "./sqlite-database.js";

interface Pending<I, R> {
  input: I;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * createGroupCommit returns an asynchronous form of the synchronous write
 * `fn` that runs every call made during one turn of the event loop in one
 * `BEGIN IMMEDIATE … COMMIT`, each call in its own savepoint. The calls run
 * one after another in the order they were made, exactly as separate
 * transactions would, and a call that throws rolls back only its own writes
 * (it rejects, mapped as `sqliteCall` maps errors). What the batch saves is
 * the transaction itself: taking the write lock and appending the commit to
 * the WAL, which cost a rotation more than its statements. Answers go out
 * only after the commit, so nothing is acknowledged that a crash could lose
 * beyond what `synchronous = NORMAL` already allows.
 *
 * The flush is scheduled with node:timers' own `setImmediate` (the check
 * phase right after the poll phase that read the requests), so fake timers
 * in tests do not hold writes back.
 */
export function createGroupCommit<I, R>(db: SqliteDatabase, what: string, operation: string, fn: (input: I) => R): (input: I) => Promise<R> {
  let batch: Pending<I, R>[] = [];

  function runAll(items: Pending<I, R>[]): Outcome<R>[] {
    const outcomes: Outcome<R>[] = [];
    db.exec("BEGIN IMMEDIATE");
    try {
      for (const item of items) {
        db.exec("SAVEPOINT item");
        try {
          outcomes.push({ ok: true, value: fn(item.input) });
        } catch (error) {
          db.exec("ROLLBACK TO item");
          outcomes.push({ ok: false, error });
        }
        db.exec("RELEASE item");
      }
      db.exec("COMMIT");
    } catch (err) {
      if (db.open) {
        db.exec("ROLLBACK");
      }
      throw err;
    }
    return outcomes;
  }

  function flush(): void {
    const items = batch;
    batch = [];
    let outcomes: Outcome<R>[];
    try {
      outcomes = runAll(items);
    } catch (err) {
      const error = sqliteError(what, operation, err);
      for (const item of items) item.reject(error);
      return;
    }
    items.forEach((item, i) => {
      const o = outcomes[i]!;
      if (o.ok) {
        item.resolve(o.value);
      } else {
        item.reject(sqliteError(what, operation, o.error));
      }
    });
  }

  return (input) =>
    new Promise<R>((resolve, reject) => {
      batch.push({ input, resolve, reject });
      if (batch.length === 1) {
        setImmediate(flush);
      }
    });
}
