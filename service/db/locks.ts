/**
 * Every PostgreSQL advisory lock the service takes, in one place: two features that picked the same
 * number would wait on each other for no reason (the link fence once shared the anchorer's key, and
 * every link writer queued behind each anchoring). test/service/locks.test.ts checks they differ.
 */
export const ADVISORY_LOCKS = {
  /** One sealer at a time (service/anchoring/sealer.ts), for its transaction. */
  seal: 0x5ea1_0001,
  /** One anchorer at a time (service/anchoring/anchorer.ts), held by its session while it anchors. */
  anchor: 0x5ea1_0002,
  /** Link writers (shared) against the sealer reading how far it may seal (exclusive): service/ledger/append.ts. */
  linkFence: 0x5ea1_0003,
  /** One outbox fan-out at a time (service/outbox/repo.ts). */
  fanOut: 0x5ea1_0005,
  /** One partition maintainer at a time: taken inside ensure_partitions() (migration 0016; its SQL names the number), service/ledger/partitions.ts. */
  partitions: 0x5ea1_0006,
} as const;

export type AdvisoryLock = keyof typeof ADVISORY_LOCKS;
