/**
 * How discovery HTTP (the fetch, the undici interceptor, the gateway) reports its attempts and
 * retries. Each function does nothing, and allocates nothing, while its channel has no subscriber.
 */
import type { ResolveSource } from '../resolution/resolver.js';
import type { ServiceInstance } from '../core/instance.js';
import {
  HttpAttemptMessage,
  httpAttemptChannel,
  httpRetryChannel,
  retryBudgetRefusedChannel,
  type HttpAttemptOutcome,
  type HttpClientKind,
  type HttpRetryMessage,
} from './channels.js';

/** What a client knows when it is about to send an attempt. */
export interface AttemptStart {
  readonly client: HttpClientKind;
  readonly service: string;
  readonly instance: ServiceInstance;
  readonly method: string;
  readonly url: string;
  readonly source: ResolveSource;
  readonly resendCount: number;
  readonly incomingHeaders?: Readonly<Record<string, string | string[] | undefined>> | undefined;
}

/**
 * Publishes the start of an attempt (then `end`: what follows is asynchronous); `undefined`
 * when nobody listens. Subscribers may have added headers: see {@link HttpAttemptMessage.addedHeaders}.
 */
export function attemptStarted(start: AttemptStart): HttpAttemptMessage | undefined {
  if (!httpAttemptChannel.hasSubscribers) return undefined;
  const message = new HttpAttemptMessage({ ...start, method: start.method.toUpperCase() });
  httpAttemptChannel.start.publish(message);
  httpAttemptChannel.end.publish(message);
  return message;
}

/** Publishes how an attempt ended (`error` first when it got no answer, then `asyncStart`, `asyncEnd`). */
export function attemptEnded(message: HttpAttemptMessage | undefined, outcome: HttpAttemptOutcome, durationMs: number, statusCode?: number, error?: unknown): void {
  if (message === undefined || message.outcome !== undefined) return;
  message.outcome = outcome;
  message.durationMs = durationMs;
  message.statusCode = statusCode;
  if (error !== undefined) {
    message.error = error;
    httpAttemptChannel.error.publish(message);
  }
  httpAttemptChannel.asyncStart.publish(message);
  httpAttemptChannel.asyncEnd.publish(message);
}

/** Publishes a retry, or a retry the budget refused (`refused`). */
export function retryDecided(refused: boolean, client: HttpClientKind, service: string, instanceId: string, reason: HttpRetryMessage['reason']): void {
  const channel = refused ? retryBudgetRefusedChannel : httpRetryChannel;
  if (!channel.hasSubscribers) return;
  const message: HttpRetryMessage = { client, service, instanceId, reason };
  channel.publish(message);
}

/** Headers subscribers added to an attempt, `undefined` when none (the common case). */
export function addedHeaders(message: HttpAttemptMessage | undefined): Readonly<Record<string, string>> | undefined {
  if (message === undefined) return undefined;
  const added = message.addedHeaders;
  for (const _name in added) return added;
  return undefined;
}
