// SigV4 verification against AWS's published test vectors and against the signer the AWS
// SDK for JavaScript uses (@smithy/signature-v4), an implementation independent of ours.
import { SignatureV4 } from "@smithy/signature-v4";
import { describe, expect, it } from "vitest";
import {
  parseAuthorization,
  type SignedRequest,
  SigV4Error,
  signature,
  verify,
} from "../../src/api/ec2/sigv4";
import { SIGV4_SKEW_MS } from "../../src/fleet/limits";
import { WebSha256 } from "../web-sha256";

/** AWS's SigV4 test suite's credentials (aws-sig-v4-test-suite, get-vanilla and post-vanilla). */
const SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

const headersOf = (h: Record<string, string>) => {
  const lower = new Map(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
  return { get: (name: string) => lower.get(name.toLowerCase()) ?? null };
};

describe("AWS's SigV4 test suite", () => {
  const vanilla = (method: string): SignedRequest => ({
    method,
    path: "/",
    query: "",
    headers: headersOf({ host: "example.amazonaws.com", "x-amz-date": "20150830T123600Z" }),
    body: new Uint8Array(0),
  });
  const scope = {
    date: "20150830",
    region: "us-east-1",
    service: "service",
    signedHeaders: ["host", "x-amz-date"],
  };

  it("gives get-vanilla's and post-vanilla's published signatures", async () => {
    expect(await signature(vanilla("GET"), scope, "20150830T123600Z", SUITE_SECRET)).toBe(
      "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
    expect(await signature(vanilla("POST"), scope, "20150830T123600Z", SUITE_SECRET)).toBe(
      "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    );
  });
});

const SECRET = "uVRjVXszQCllkbkig5aGyp12VHglZ1ShR3mbu8mh";
const KEY_ID = "AKIAVU7U3MY2AUJBNDUP";

/** A request signed by the SDK's signer at `when`, as the endpoint would receive it. */
async function sdkSigned(
  body: string,
  when: Date,
  opts: { path?: string; query?: Record<string, string>; service?: string; secret?: string } = {},
) {
  const signer = new SignatureV4({
    credentials: { accessKeyId: KEY_ID, secretAccessKey: opts.secret ?? SECRET },
    region: "us-east-1",
    service: opts.service ?? "ec2",
    sha256: WebSha256,
  });
  const signed = await signer.sign(
    {
      method: "POST",
      protocol: "http:",
      hostname: "localhost",
      port: 8787,
      path: opts.path ?? "/",
      query: opts.query ?? {},
      headers: {
        host: "localhost:8787",
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
      },
      body,
    },
    { signingDate: when },
  );
  const query = new URLSearchParams(opts.query ?? {}).toString().replaceAll("+", "%20");
  const req: SignedRequest = {
    method: "POST",
    path: opts.path ?? "/",
    query,
    headers: headersOf(signed.headers as Record<string, string>),
    body: new TextEncoder().encode(body),
  };
  return { req, cred: parseAuthorization(req.headers.get("authorization")) };
}

const BODY =
  "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3Ateam&Filter.1.Value.1=web%20%26%20api";
const NOW = Date.UTC(2026, 10, 25, 20, 0, 0);

async function codeOf(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (err) {
    if (err instanceof SigV4Error) return err.code;
    throw err;
  }
}

describe("verifying a request the AWS SDK signed", () => {
  it("accepts it, with odd characters in the body, the path and the query", async () => {
    const plain = await sdkSigned(BODY, new Date(NOW));
    expect(plain.cred.accessKeyId).toBe(KEY_ID);
    expect(await codeOf(verify(plain.req, plain.cred, SECRET, NOW))).toBeNull();
    const odd = await sdkSigned(BODY, new Date(NOW), {
      path: "/a%20b/c~d",
      query: { "x y": "1/2", a: "é*", b: "" },
    });
    expect(await codeOf(verify(odd.req, odd.cred, SECRET, NOW))).toBeNull();
  });

  it("refuses a changed body, another secret or another service: SignatureDoesNotMatch", async () => {
    const { req, cred } = await sdkSigned(BODY, new Date(NOW));
    const tampered = { ...req, body: new TextEncoder().encode(BODY.replace("web", "wex")) };
    expect(await codeOf(verify(tampered, cred, SECRET, NOW))).toBe("SignatureDoesNotMatch");
    expect(await codeOf(verify(req, cred, `${SECRET.slice(0, -1)}X`, NOW))).toBe("SignatureDoesNotMatch");
    const s3 = await sdkSigned(BODY, new Date(NOW), { service: "s3" });
    expect(await codeOf(verify(s3.req, s3.cred, SECRET, NOW))).toBe("SignatureDoesNotMatch");
  });

  it("takes a signature within the 15-minute window either way, and refuses one past it: RequestExpired", async () => {
    for (const offset of [-SIGV4_SKEW_MS + 1000, SIGV4_SKEW_MS - 1000]) {
      const { req, cred } = await sdkSigned(BODY, new Date(NOW + offset));
      expect(await codeOf(verify(req, cred, SECRET, NOW))).toBeNull();
    }
    for (const offset of [-SIGV4_SKEW_MS - 1000, SIGV4_SKEW_MS + 1000]) {
      const { req, cred } = await sdkSigned(BODY, new Date(NOW + offset));
      // The time is checked first: even the right signature is refused.
      expect(await codeOf(verify(req, cred, SECRET, NOW))).toBe("RequestExpired");
    }
  });

  it("names what is missing from the Authorization header", () => {
    const code = (h: string | null) => {
      try {
        parseAuthorization(h);
        return null;
      } catch (err) {
        return err instanceof SigV4Error ? `${err.code}: ${err.message}` : String(err);
      }
    };
    expect(code(null)).toMatch(/^MissingAuthenticationToken/);
    expect(code("Bearer hfk_x")).toMatch(/^IncompleteSignature: .*AWS4-HMAC-SHA256/);
    expect(code("AWS4-HMAC-SHA256 Credential=AKIA/20261125/us-east-1/ec2/aws4_request")).toMatch(
      /^IncompleteSignature: .*SignedHeaders/,
    );
    expect(
      code(
        `AWS4-HMAC-SHA256 Credential=${KEY_ID}/20261125/us-east-1/ec2/aws4_request, SignedHeaders=x-amz-date, Signature=${"0".repeat(64)}`,
      ),
    ).toMatch(/^IncompleteSignature: .*host/);
  });
});
