// Cursor paging, one way for every list: ask for one row more than the page, and the
// last row of a full page is the cursor for the next.
export function pageOf<R, C>(rows: R[], limit: number, cursorOf: (row: R) => C) {
  const page = rows.slice(0, limit);
  return { page, nextCursor: rows.length > limit ? cursorOf(page[page.length - 1]) : null };
}

/**
 * A page bounded in bytes as well as in rows: it stops before the row that would take it
 * past `maxBytes` (its first row always fits), and then the cursor points after its last.
 * `rows` are in order, each with its size; `found` is how many rows the query matched,
 * up to `limit` + 1, of which `rows` may bring fewer (those that start past the budget).
 */
export function pageWithin<R, C>(
  rows: readonly { row: R; bytes: number }[],
  found: number,
  limit: number,
  maxBytes: number,
  cursorOf: (row: R) => C,
) {
  const page: R[] = [];
  let bytes = 0;
  for (const r of rows) {
    if (page.length === limit || (page.length > 0 && bytes + r.bytes > maxBytes)) break;
    page.push(r.row);
    bytes += r.bytes;
  }
  return { page, bytes, nextCursor: found > page.length ? cursorOf(page[page.length - 1]) : null };
}
