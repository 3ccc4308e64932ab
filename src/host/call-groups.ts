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

/** One caller's call: one part or more, which always run in the same group, in order. */
interface Entry<P, R> {
  parts: P[];
  resolve: (r: R[]) => void;
  reject: (err: unknown) => void;
}

/**
 * Calls submitted while a group is forming or running wait and go in the next group, in the
 * order they came. A group that throws applied none of its calls (the host call rolls back as
 * a whole), and one call's error must not be its neighbours' (a retried admission of an
 * instance already here throws "already on this host"): each of its calls then runs again on
 * its own and gets its own answer or error, as it would have without grouping.
 */
export class CallGroups<P, R> {
  private waiting: Entry<P, R>[] = [];
  private busy = false;
  /** Groups run and the parts they carried, since the object opened. */
  readonly counts = { groups: 0, parts: 0 };

  constructor(
    /** Runs one group: one answer per part, in order; throws for all of them. */
    private readonly run: (parts: P[]) => Promise<R[]>,
    private readonly limits: GroupLimits<P>,
  ) {}

  /** Runs `parts` in one group (with other callers' calls, if any came with them). */
  submit(parts: P[]): Promise<R[]> {
    return new Promise<R[]>((resolve, reject) => {
      this.waiting.push({ parts, resolve, reject });
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
        const parts = group.flatMap((e) => e.parts);
        this.counts.groups++;
        this.counts.parts += parts.length;
        try {
          const answers = await this.run(parts);
          let at = 0;
          for (const e of group) {
            e.resolve(answers.slice(at, at + e.parts.length));
            at += e.parts.length;
          }
        } catch (err) {
          if (group.length === 1) group[0].reject(err);
          else {
            for (const e of group) {
              try {
                e.resolve(await this.run(e.parts));
              } catch (own) {
                e.reject(own);
              }
            }
          }
        }
      }
    } finally {
      this.busy = false;
    }
  }

  /** The next group: the first waiting call always, then as many as the limits take. */
  private take(): Entry<P, R>[] {
    const { maxParts, weight, maxWeight } = this.limits;
    const sizeOf = (e: Entry<P, R>) => ({
      n: e.parts.length,
      w: e.parts.reduce((t, p) => t + weight(p), 0),
    });
    const group = [this.waiting.shift()!];
    let { n, w } = sizeOf(group[0]);
    while (this.waiting.length > 0) {
      const next = sizeOf(this.waiting[0]);
      if (n + next.n > maxParts || w + next.w > maxWeight) break;
      n += next.n;
      w += next.w;
      group.push(this.waiting.shift()!);
    }
    return group;
  }
}
