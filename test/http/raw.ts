// Requests written byte by byte on a socket, for the bodies fetch will not send: chunked
// bodies of a chosen shape, and bodies cut short by a client that hangs up.
import { connect } from "node:net";

export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** Written as they are, in order; a chunked body is framed by `chunked()`. */
  body: Buffer[];
  /** "answer": wait for the status line; "hang up": close the socket once the body is written. */
  ending: "answer" | "hang up";
}

/** Frames `data` as HTTP/1.1 chunks of `size` bytes, with the last chunk when `complete`. */
export function chunked(data: Buffer, size: number, complete: boolean): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) {
    const piece = data.subarray(at, at + size);
    out.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from("\r\n"));
  }
  if (complete) out.push(Buffer.from("0\r\n\r\n"));
  return out;
}

/** Sends one request on its own connection to `base` (a loopback origin); resolves with the status, if any. */
export function send(base: string, req: RawRequest, timeoutMs = 5000): Promise<number | null> {
  const url = new URL(base);
  if (url.hostname !== "127.0.0.1") throw new Error(`not a loopback origin: ${base}`);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let received = "";
    let status: number | null = null;
    const finish = (err?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (err && status === null && req.ending === "answer") reject(err);
      else resolve(status);
    };
    const timer = setTimeout(
      () => finish(req.ending === "answer" ? new Error(`no answer in ${timeoutMs} ms`) : undefined),
      timeoutMs,
    );
    socket.on("data", (data: Buffer) => {
      received += data.toString("latin1");
      const line = /^HTTP\/1\.1 (\d{3})/.exec(received);
      if (line) {
        status = Number(line[1]);
        if (req.ending === "answer") finish();
      }
    });
    // The server may answer and close before a refused body is all written.
    socket.on("error", (err) => finish(err));
    socket.on("close", () =>
      finish(req.ending === "answer" ? new Error("closed without an answer") : undefined),
    );
    const head = [
      `${req.method} ${req.path} HTTP/1.1`,
      `host: ${url.host}`,
      ...Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`),
      "",
      "",
    ].join("\r\n");
    socket.write(head);
    for (const piece of req.body) socket.write(piece);
    if (req.ending === "hang up") socket.end();
  });
}
