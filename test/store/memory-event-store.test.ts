import { createMemoryEventStore } from "../../src/server/store/memory-event-store.js";
import { describeEventStoreContract } from "./event-store-contract.js";

describeEventStoreContract("memory", async () => {
  const store = createMemoryEventStore();
  return { store, cleanup: () => store.close() };
});
