// The EC2 Query protocol's parameters and XML, apart from any request.
import { describe, expect, it } from "vitest";
import { instanceFilter, instanceFilterNames } from "../../src/api/ec2/filters";
import { QueryError, QueryParams } from "../../src/api/ec2/query";
import { errorXml, escapeXml, responseXml } from "../../src/api/ec2/xml";

const params = (pairs: Record<string, string>) => QueryParams.parse(new URLSearchParams(pairs).toString());

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof QueryError ? err.code : String(err);
  }
}

describe("Query parameters", () => {
  it("read lists in their numbered order and filters with their values", () => {
    const q = params({
      "InstanceId.2": "i-b",
      "InstanceId.1": "i-a",
      "InstanceId.10": "i-c",
      "Filter.1.Name": "tag:team",
      "Filter.1.Value.1": "web",
      "Filter.1.Value.2": "api & co",
      "Filter.2.Name": "instance-state-name",
      "Filter.2.Value.1": "running",
    });
    expect(q.list("InstanceId")).toEqual(["i-a", "i-b", "i-c"]);
    const filters = q.filters(instanceFilterNames);
    expect([...filters]).toEqual([
      ["tag:team", ["web", "api & co"]],
      ["instance-state-name", ["running"]],
    ]);
    expect(codeOf(() => q.done())).toBeNull();
  });

  it("refuse a parameter no action read, one given twice, a list from 0 and an unknown filter", () => {
    const q = params({ "InstanceId.1": "i-a", Colour: "red" });
    q.list("InstanceId");
    expect(codeOf(() => q.done())).toBe("UnknownParameter");
    expect(codeOf(() => QueryParams.parse("Action=A&Action=B"))).toBe("MalformedQueryString");
    expect(codeOf(() => params({ "InstanceId.0": "i-a" }).list("InstanceId"))).toBe("InvalidParameterValue");
    expect(
      codeOf(() =>
        params({ "Filter.1.Name": "colour", "Filter.1.Value.1": "x" }).filters(instanceFilterNames),
      ),
    ).toBe("InvalidParameterValue");
    expect(codeOf(() => params({ MaxResults: "4" }).paging())).toBe("InvalidParameterValue");
    expect(codeOf(() => params({ DryRun: "yes" }).bool("DryRun"))).toBe("InvalidParameterValue");
  });

  it("turn EC2's instance filters into the fleet's, intersecting two filters on one column", () => {
    const f = instanceFilter(
      new Map([
        ["instance-state-code", ["16", "272"]],
        ["instance-state-name", ["running", "stopped"]],
        ["instance-id", ["i-1", "i-2"]],
        ["tag-key", ["team"]],
        ["tag:env", ["prod"]],
      ]),
      ["i-2", "i-3"],
    );
    // 272 is 16 with EC2's internal high byte set: still running.
    expect(f.state).toEqual(["running"]);
    expect(f.anyOf?.instanceId).toEqual(["i-2"]);
    expect(f.anyOf?.tagKey).toEqual(["team"]);
    expect(f.anyOf?.tagValues).toEqual([["env", ["prod"]]]);
    // No state at all matches nothing, not everything.
    const none = instanceFilter(
      new Map([
        ["instance-state-name", ["running"]],
        ["instance-state-code", ["80"]],
      ]),
      [],
    );
    expect(none.anyOf?.instanceId).toEqual([]);
  });
});

describe("EC2's XML", () => {
  it("escapes text, lists items and leaves absent members out", () => {
    expect(escapeXml(`<a & 'b' "c">`)).toBe("&lt;a &amp; &apos;b&apos; &quot;c&quot;&gt;");
    const xml = responseXml("DescribeTags", "req-1", {
      tagSet: [{ key: "a<b", value: "" }],
      nextToken: undefined,
    });
    expect(xml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeTagsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId><tagSet><item><key>a&lt;b</key><value></value></item></tagSet></DescribeTagsResponse>',
    );
    expect(errorXml("InvalidAction", "no & such", "req-2")).toContain(
      "<Response><Errors><Error><Code>InvalidAction</Code><Message>no &amp; such</Message></Error></Errors><RequestID>req-2</RequestID></Response>",
    );
  });
});
