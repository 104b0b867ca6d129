/**
 * What a failed LMDB commit looks like from JS, and the one place that keeps it from killing the
 * process [issue 13: "a full disk kills the process"].
 *
 * lmdb-js (3.5, write.js `rejectCommit`) rejects every write promise of a failed commit with
 * `Error('Commit failed (see commitError for details)')` whose `commitError` is a second,
 * already-rejected promise holding the real error (EIO, ENOSPC, EROFS...). Two of those promises
 * have no handler anywhere: `commitError` itself unless the caller attaches one, and the commit
 * promise lmdb creates for its own event-turn batch (write.js `writeBatchStart`). Node's default
 * for an unhandled rejection is to end the process, so one full disk ended every connection.
 * The caller that awaited the write still gets the rejection and answers `log_unavailable`; the
 * orphaned copies are absorbed here, and only those: any other unhandled rejection still ends the
 * process as before (it is a bug, and hiding it would be worse).
 */

const COMMIT_FAILED = 'Commit failed (see commitError for details)';

interface LmdbCommitFailure extends Error {
  readonly commitError: Promise<unknown>;
}

export function isLmdbCommitFailure(error: unknown): error is LmdbCommitFailure {
  return error instanceof Error && error.message === COMMIT_FAILED && (error as Partial<LmdbCommitFailure>).commitError instanceof Promise;
}

/** lmdb's native errors carry the errno as `code` (5 EIO, 28 ENOSPC, 30 EROFS). */
function describe(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'number' || typeof code === 'string' ? `${cause.message} (code ${code})` : cause.message;
}

/** The real reason behind a failed write, for the log line and the 503 message. Never rejects. */
export async function commitFailureReason(error: unknown): Promise<string> {
  if (!isLmdbCommitFailure(error)) return describe(error);
  const cause = await error.commitError.then(
    () => undefined,
    (e: unknown) => e,
  );
  return cause === undefined ? error.message : describe(cause);
}

let absorbing = false;

/** Installs the process-wide absorber once; every LMDB env of the engine calls it when it opens. */
export function absorbLmdbCommitRejections(): void {
  if (absorbing) return;
  absorbing = true;
  process.on('unhandledRejection', (reason) => {
    if (isLmdbCommitFailure(reason)) {
      reason.commitError.catch(() => undefined);
      return;
    }
    if (reason instanceof Error && reason.stack?.includes('/lmdb/write.js') === true && (reason as { code?: unknown }).code !== undefined) {
      // The `commitError` promise itself (the native error, thrown from write.js).
      return;
    }
    // Anything else keeps Node's default: the process ends with the error.
    throw reason;
  });
}
