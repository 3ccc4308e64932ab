// Cursor paging, one way for every list: ask for one row more than the page, and the
// last row of a full page is the cursor for the next.
export function pageOf<R, C>(rows: R[], limit: number, cursorOf: (row: R) => C) {
  const page = rows.slice(0, limit);
  return { page, nextCursor: rows.length > limit ? cursorOf(page[page.length - 1]) : null };
}
