/** abe-client: the vehicle SDK for the area broadcast engine (protocol v1). */
export { Client } from './client.ts';
export { Subscription } from './subscription.ts';
export { MemoryPositionStore, LocalStoragePositionStore, type StorageLike } from './stores.ts';
export { jsonCodec, FrameError } from './codec.ts';
export { reconnectDelay, reconnectWindow } from './backoff.ts';
export { decodeToken, globMatch, type TokenInfo } from './token.ts';
export type { HistoryMessage, HistoryPage } from './history.ts';
export * from './errors.ts';
export type * from './types.ts';
