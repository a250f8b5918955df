import { createMemoryFamilyStore } from "../../src/server/store/memory-family-store.js";
import { describeFamilyStoreContract } from "./family-store-contract.js";

describeFamilyStoreContract("memory", async () => {
  const store = createMemoryFamilyStore();
  return { store, cleanup: () => store.close() };
});
