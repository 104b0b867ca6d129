/**
 * The durable MQTT session store [issue 3]: per client id, the areas it subscribes to and how
 * far it got in each (its virtual cursors), plus each area's retained message. Transports write
 * positions here from a sweep and at disconnect, never per PUBACK.
 *
 * Reads are synchronous (LMDB reads are memory-mapped); a put is visible to the next get at once
 * (the LMDB implementation keeps pending writes in memory until they commit), which is what makes
 * a session takeover in the same tick safe.
 */
import type { ContentType, RecordHeaders } from '../log/types.ts';

/** One area subscription of a session. */
export interface StoredSubscription {
  readonly area: string;
  /** Granted QoS. */
  readonly qos: 0 | 1 | 2;
  /** No Local [MQTT-3.8.3-3] (absent in sessions written before it existed: false). */
  readonly nl?: boolean;
  /** Retain As Published [MQTT-3.3.1-13]. */
  readonly rap?: boolean;
  /** Payload compression asked for at SUBSCRIBE (absent: false) [issue 16]. */
  readonly deflate?: boolean;
  /** The wildcard filter that made this area's subscription (absent: an exact `areas/{area}`). */
  readonly via?: string;
  /** A shared subscription membership: its filter `$share/{group}/areas/{area}`; positions are the group's. */
  readonly share?: string;
  /** Log epoch the offsets belong to. */
  readonly epoch: string;
  /** Last offset the client acknowledged (QoS 1) or was sent (QoS 0): delivery resumes after it. */
  readonly acked: number;
  /** Highest offset ever sent to this client on this subscription: resends up to it carry DUP=1. */
  readonly sent: number;
}

export interface StoredSession {
  /** MQTT protocol level of the connection that last held it (4 or 5). */
  readonly version: 4 | 5;
  /** Session expiry interval in seconds (after the engine's cap). */
  readonly expirySeconds: number;
  /** ms since the Unix epoch after which the session is gone (refreshed while connected). */
  readonly expiresAt: number;
  readonly subscriptions: readonly StoredSubscription[];
  /**
   * QoS 2 PUBLISH packet ids received and answered with PUBREC, not yet released by PUBREL: a
   * resent PUBLISH with one of them is not a new message [MQTT-4.3.3-10].
   */
  readonly qos2Received?: readonly number[];
  /** QoS 2 packet ids the client acknowledged with PUBREC, awaiting its PUBCOMP: PUBREL is resent [MQTT-4.4.0-1]. */
  readonly qos2Releasing?: readonly number[];
  /** Wildcard filters and their options: they keep meeting new areas after a resume. */
  readonly wildcards?: readonly { readonly filter: string; readonly qos: 0 | 1 | 2; readonly nl: boolean; readonly rap: boolean; readonly deflate?: boolean }[];
}

export interface RetainedMessage {
  readonly offset: number;
  /** Accept time (ms). */
  readonly time: number;
  /** 0 = never expires. */
  readonly expiresAt: number;
  readonly contentType: ContentType;
  readonly payload: Uint8Array;
  /** The publisher's MQTT 5 properties and QoS (retained messages go out at min(QoS, granted)). */
  readonly headers?: RecordHeaders;
}

export interface SessionStore {
  open(): Promise<void>;
  getSession(clientId: string): StoredSession | undefined;
  /** Visible to getSession at once; durable when the returned promise resolves. */
  putSession(clientId: string, session: StoredSession): Promise<void>;
  deleteSession(clientId: string): Promise<void>;
  /** Deletes sessions expired at `now` whose client is not connected (`live(clientId)` false). Returns how many. */
  expireSessions(now: number, live: (clientId: string) => boolean): Promise<number>;
  getRetained(area: string): RetainedMessage | undefined;
  /** Replaces the area's retained message unless the stored one has a higher offset. Durable on resolve. */
  setRetained(area: string, message: RetainedMessage): Promise<void>;
  clearRetained(area: string): Promise<void>;
  /** Resolves once every write so far is durable. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
