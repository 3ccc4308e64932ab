// Group commit of a host object's placement calls, as a database groups the log writes of
// concurrent transactions: the calls that reached the object while it was busy run together,
// as one host call (one settle, one transaction, one outbox append and delivery, one alarm),
// each with the answer it would have had alone. With binpack most concurrent launches offer to
// the same, fullest host, so under load the groups form by themselves.
//
// Why here and not in the isolate that calls: a request of a Worker cannot resume on a promise
// another request settled (workerd refuses: "Cannot perform I/O on behalf of a different
// request"), so one request cannot carry another's call and hand it its answer. Inside one
// object every call shares the object's context, and the grouping is safe.

export interface GroupLimits<P> {
  /** Parts in one group at most. */
  maxParts: number;
  /** What a part weighs (the records it carries), and what one group may weigh at most. */
  weight: (part: P) => number;
  maxWeight: number;
}

interface Entry<P, R> {
  part: P;
  resolve: (r: R) => void;
  reject: (err: unknown) => void;
}

/**
 * Parts submitted while a group is forming or running wait and go in the next group, in the
 * order they came. A group that throws is an error for each of its parts: none of them was
 * applied (the host call rolls back as a whole), and none is run again on its own.
 */
export class CallGroups<P, R> {
  private waiting: Entry<P, R>[] = [];
  private busy = false;
  /** Groups run and parts they carried, since the object opened. */
  readonly counts = { groups: 0, parts: 0 };

  constructor(
    /** Runs one group: one answer per part, in order; throws for all of them. */
    private readonly run: (parts: P[]) => Promise<R[]>,
    private readonly limits: GroupLimits<P>,
  ) {}

  submit(part: P): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ part, resolve, reject });
      if (!this.busy) {
        this.busy = true;
        void this.drain();
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      // One turn of the event loop, the only wait a lone call pays: the calls already
      // delivered to the object behind this one come in and join its group.
      await new Promise((r) => setTimeout(r, 0));
      while (this.waiting.length > 0) {
        const group = this.take();
        this.counts.groups++;
        this.counts.parts += group.length;
        try {
          const answers = await this.run(group.map((e) => e.part));
          group.forEach((e, i) => {
            e.resolve(answers[i]);
          });
        } catch (err) {
          for (const e of group) e.reject(err);
        }
      }
    } finally {
      this.busy = false;
    }
  }

  /** The next group: the first waiting part always, then as many as the limits take. */
  private take(): Entry<P, R>[] {
    const { maxParts, weight, maxWeight } = this.limits;
    const group = [this.waiting.shift()!];
    let w = weight(group[0].part);
    while (this.waiting.length > 0 && group.length < maxParts) {
      const next = weight(this.waiting[0].part);
      if (w + next > maxWeight) break;
      w += next;
      group.push(this.waiting.shift()!);
    }
    return group;
  }
}
