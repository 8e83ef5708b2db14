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
