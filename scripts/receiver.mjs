// `node scripts/receiver.mjs [port]`: a webhook receiver on 127.0.0.1 for trying subscriptions
// locally. Prints one line per delivery; with WEBHOOK_SECRET set (the secret the subscription
// showed), checks its Standard Webhooks signature first and answers 401 to a bad one.
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

const port = Number(process.argv[2] ?? 9900);
const secret = process.env.WEBHOOK_SECRET;
const verifier = secret ? new Webhook(secret) : null;

createServer((req, res) => {
  let body = "";
  req.on("data", (chunk) => {
    body += chunk;
  });
  req.on("end", () => {
    let verdict = "unchecked";
    if (verifier) {
      try {
        verifier.verify(body, req.headers);
        verdict = "signature ok";
      } catch (err) {
        console.log(`${req.headers["webhook-id"]} refused: ${err.message}`);
        res.writeHead(401).end();
        return;
      }
    }
    const e = JSON.parse(body);
    const d = e.data ?? {};
    const change = d.previousState !== undefined ? `${d.previousState} -> ${d.state}` : "";
    console.log(`${req.headers["webhook-id"]} ${verdict} ${e.time} ${e.type} ${e.resource?.id} ${change}`);
    res.writeHead(204).end();
  });
}).listen(port, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${port}/`));
