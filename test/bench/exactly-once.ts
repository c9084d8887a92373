/** How one receiver's seqs compare with the seqs it should have received. */
export interface SeqCheck {
  /** Expected seqs never received. */
  lost: number;
  /** Extra copies: received seqs minus distinct received seqs. */
  duplicated: number;
  /** Received seqs that were not expected at all (e.g. outside the range). */
  unexpected: number;
  /** Receipts whose seq was not greater than the previous receipt's. */
  outOfOrder: number;
}

/**
 * Compares the seqs one receiver got (in arrival order) with the seqs it
 * should have got (any order, distinct).
 * @example compareSeqs([1, 2, 3], [1, 3, 3]) // { lost: 1, duplicated: 1, unexpected: 0, outOfOrder: 1 }
 */
export function compareSeqs(expected: Iterable<number>, received: readonly number[]): SeqCheck {
  const want = new Set(expected);
  const seen = new Set<number>();
  let duplicated = 0;
  let unexpected = 0;
  let outOfOrder = 0;
  let previous = Number.NEGATIVE_INFINITY;
  for (const seq of received) {
    if (seq <= previous) outOfOrder++;
    previous = seq;
    if (seen.has(seq)) {
      duplicated++;
      continue;
    }
    seen.add(seq);
    if (!want.has(seq)) unexpected++;
  }
  let lost = 0;
  for (const seq of want) if (!seen.has(seq)) lost++;
  return { lost, duplicated, unexpected, outOfOrder };
}

/** Sums checks field by field. */
export function addChecks(a: SeqCheck, b: SeqCheck): SeqCheck {
  return {
    lost: a.lost + b.lost,
    duplicated: a.duplicated + b.duplicated,
    unexpected: a.unexpected + b.unexpected,
    outOfOrder: a.outOfOrder + b.outOfOrder,
  };
}

export const NO_ERRORS: SeqCheck = { lost: 0, duplicated: 0, unexpected: 0, outOfOrder: 0 };
