/**
 * Hands out idempotent-producer ids that stay unique across broker restarts.
 *
 * Ids are reserved in blocks: before the first id of a block is handed out,
 * the end of the block is persisted in `<data-dir>/producer-ids.checkpoint`
 * (checksummed-file.ts format: `{ "version": 1, "nextBlockStart": N }`,
 * written to a temp file, fsynced, renamed). After any restart, clean or not,
 * allocation resumes at the persisted `nextBlockStart`, so an id is never
 * handed out twice; at most one block of ids is skipped per restart.
 * A block of 1,000 means one small fsynced write per 1,000 producers.
 *
 * Epochs: `InitProducerId` without an id allocates a new id at epoch 0. With
 * an id this broker allocated and that id's current epoch, it bumps the epoch
 * (KIP-360), fencing the older epoch on every partition the id writes to next.
 * A request repeating the last bump (the same id and epoch: its reply was
 * lost and the client retried) gets the same answer again, as KIP-360 asks;
 * any other epoch older than the last one this process handed out is
 * PRODUCER_FENCED. At the largest epoch (32767) a new id is allocated.
 *
 * Concurrency: `initProducerId` may be called concurrently; block
 * reservations are serialized through one promise chain.
 */
import path from 'path';
import { BrookError, isBrookError } from '../common/errors';
import { readChecksummed, writeChecksummedAtomically } from './checksummed-file';
import { isNotFound, type StorageFileSystem } from './file-system';
import type { StorageLogger } from './logger';

export const PRODUCER_IDS_FILE = 'producer-ids.checkpoint';
export const PRODUCER_ID_BLOCK_SIZE = 1000;
const MAX_EPOCH = 0x7fff;

export interface ProducerIdAndEpoch {
  readonly producerId: number;
  readonly producerEpoch: number;
}

interface ProducerIdsCheckpoint {
  readonly version: 1;
  readonly nextBlockStart: number;
}

export class ProducerIdManager {
  /** Next id to hand out; ids in [next, blockEnd) are reserved on disk. */
  private next: number;
  private blockEnd: number;
  private reserving: Promise<void> = Promise.resolve();
  /** The last bump of each id by this process: the epoch it was asked with, and its answer. */
  private readonly lastBump = new Map<number, { readonly fromEpoch: number; readonly answer: Promise<ProducerIdAndEpoch> }>();

  private constructor(
    private readonly fileSystem: StorageFileSystem,
    private readonly file: string,
    private readonly logger: StorageLogger,
    start: number,
  ) {
    this.next = start;
    this.blockEnd = start;
  }

  static async open(fileSystem: StorageFileSystem, dataDir: string, logger: StorageLogger): Promise<ProducerIdManager> {
    const file = path.join(dataDir, PRODUCER_IDS_FILE);
    let start = 0;
    try {
      const value = (await readChecksummed(fileSystem, file)) as ProducerIdsCheckpoint;
      if (value?.version !== 1 || !Number.isSafeInteger(value.nextBlockStart) || value.nextBlockStart < 0) {
        throw new BrookError('CORRUPT_DATA', `${file}: unexpected contents`, { file });
      }
      start = value.nextBlockStart;
    } catch (e) {
      if (isBrookError(e, 'CORRUPT_DATA')) {
        // Reusing an id could make a new producer look like a duplicate of an
        // old one; refuse to guess rather than risk it.
        throw new BrookError('CORRUPT_DATA', `${file} is damaged (${e.message}); producer ids could repeat. Restore it, or replace it with a nextBlockStart above every producer id in use`, { file }, { cause: e });
      }
      if (!isNotFound(e)) throw e;
    }
    return new ProducerIdManager(fileSystem, file, logger, start);
  }

  /** The next id that would be handed out (tests, diagnostics). */
  get nextProducerId(): number {
    return this.next;
  }

  /**
   * Allocates a new producer id at epoch 0, or bumps the epoch of `producerId`
   * when given (with the epoch the caller holds).
   */
  async initProducerId(producerId?: number, producerEpoch?: number): Promise<ProducerIdAndEpoch> {
    if (producerId !== undefined && producerId >= 0) {
      const epoch = producerEpoch ?? 0;
      if (!Number.isSafeInteger(producerId) || producerId >= this.next) {
        throw new BrookError('UNKNOWN_PRODUCER_ID', `producer id ${producerId} was never allocated by this broker; ask for a new one (omit producer_id)`);
      }
      if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) {
        throw new BrookError('INVALID_ARGUMENT', `producer_epoch must lie in [0, ${MAX_EPOCH}], got ${producerEpoch}`);
      }
      const last = this.lastBump.get(producerId);
      if (last !== undefined) {
        if (epoch === last.fromEpoch) return last.answer; // a retry of the last bump
        if (epoch <= last.fromEpoch) {
          const since = last.fromEpoch < MAX_EPOCH ? `epoch ${last.fromEpoch + 1} was handed out since` : `the id was replaced after epoch ${MAX_EPOCH}`;
          throw new BrookError('PRODUCER_FENCED', `producer id ${producerId} epoch ${epoch} is fenced: ${since}`);
        }
      }
      const answer = epoch < MAX_EPOCH ? Promise.resolve({ producerId, producerEpoch: epoch + 1 }) : this.allocate().then((id) => ({ producerId: id, producerEpoch: 0 }));
      const bump = { fromEpoch: epoch, answer };
      this.lastBump.set(producerId, bump);
      // A failed allocation must not become the answer to every retry.
      answer.catch(() => {
        if (this.lastBump.get(producerId) === bump) this.lastBump.delete(producerId);
      });
      return answer;
    }
    return { producerId: await this.allocate(), producerEpoch: 0 };
  }

  private async allocate(): Promise<number> {
    for (;;) {
      if (this.next < this.blockEnd) return this.next++;
      const reservation = this.reserving.then(() => this.reserveBlock());
      this.reserving = reservation.catch(() => undefined);
      await reservation;
    }
  }

  private async reserveBlock(): Promise<void> {
    if (this.next < this.blockEnd) return; // another caller reserved one meanwhile
    const end = this.blockEnd + PRODUCER_ID_BLOCK_SIZE;
    await writeChecksummedAtomically(this.fileSystem, this.file, { version: 1, nextBlockStart: end } satisfies ProducerIdsCheckpoint);
    this.logger.info({ file: this.file, from: this.blockEnd, to: end }, 'reserved a block of producer ids');
    this.blockEnd = end;
  }
}
