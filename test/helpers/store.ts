import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { unwrap } from "../../src/domain/errors.js";
import { Store } from "../../src/store/store.js";

/**
 * The state dir's database, opened beside the corral under test for the span of `use`: what
 * a test reads or plants directly goes through the real store, on the real file, and the
 * corral keeps its own store to itself.
 */
export function withStore<T>(home: string, use: (store: Store) => T): T {
  const store = unwrap(Store.open(join(home, "corral.db")));
  try {
    return use(store);
  } finally {
    store.close();
  }
}

/** A store of its own, in a fresh dir under the test's root, open for the span of `use`; `path` is its database file. */
export function withFreshStore<T>(use: (store: Store, path: string) => T): T {
  const path = join(mkdtempSync(join(process.env.CORRAL_TEST_ROOT as string, "store-")), "corral.db");
  const store = unwrap(Store.open(path));
  try {
    return use(store, path);
  } finally {
    store.close();
  }
}
