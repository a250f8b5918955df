/**
 * tokenkit/node — token stores for Node clients: an atomic, 0600 file store
 * with a cross-process lock, and an OS keyring store.
 *
 * @module
 */
export { createFileTokenStore } from "./file-token-store.js";
export type { FileTokenStoreOptions } from "./file-token-store.js";
export { FileLockError } from "./file-lock.js";
export { createKeyringTokenStore, KeyringError, KeyringUnavailableError } from "./keyring-token-store.js";
export type { KeyringTokenStoreOptions } from "./keyring-token-store.js";
// The same class the tokenkit entry exports, so that one import suffices in Node.
export { TokenStoreCorruptError } from "../client/stored-token-codec.js";
